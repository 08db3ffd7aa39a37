"""The key-slot table: XTS key pairs per ASID behind the secure port. See ``rtl/keyslots/README.md``."""

from .regmap import KEY_WORDS, KEYSLOT_REGISTERS, SLOT_INDEX_BITS, KeyOp
from .table import LAYOUTS, KeyRow, KeySlotTable

__all__ = ["KEYSLOT_REGISTERS", "KEY_WORDS", "KeyOp", "KeyRow", "KeySlotTable", "LAYOUTS", "SLOT_INDEX_BITS"]
