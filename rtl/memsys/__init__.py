"""The memory system: cache and memory encryption unit. See ``rtl/memsys/README.md``."""

from .system import MemorySystem
from .regmap import SYSTEM_REGISTERS, SYSTEM_WINDOW, UNIT_WINDOW, SECURE_ADDRESS_WIDTH

__all__ = ["MemorySystem", "SYSTEM_REGISTERS", "SYSTEM_WINDOW", "UNIT_WINDOW", "SECURE_ADDRESS_WIDTH"]
