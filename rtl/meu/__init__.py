"""The memory encryption unit: C-bit mux, key slots, XTS with the line address as tweak.

See ``rtl/meu/README.md``.
"""

from .regmap import COUNTERS, CSR_ADDRESS_WIDTH, KEYSLOT_WINDOW, MEU_REGISTERS, MEU_WINDOW, meu_registers
from .unit import MemoryEncryptionUnit

__all__ = ["COUNTERS", "CSR_ADDRESS_WIDTH", "KEYSLOT_WINDOW", "MEU_REGISTERS", "MEU_WINDOW",
           "MemoryEncryptionUnit", "meu_registers"]
