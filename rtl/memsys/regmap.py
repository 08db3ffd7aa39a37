"""The memory system's secure-port address map. See ``rtl/memsys/README.md``.

The secure port reaches the unit's window (its own registers at 0x00, the key slots at 0x20,
``rtl/meu/regmap.py``) and this small system window at 0x40, which shows the secure processor
what it must know of the cores' side: whether a WBINVD has run.
"""

from ..csr import Access, Field, Register, RegisterMap

__all__ = ["SYSTEM_REGISTERS", "UNIT_WINDOW", "SYSTEM_WINDOW", "SECURE_ADDRESS_WIDTH"]

#: (base word address, address bits) of each window on the secure port.
UNIT_WINDOW = (0x00, 6)
SYSTEM_WINDOW = (0x40, 4)
SECURE_ADDRESS_WIDTH = 7

SYSTEM_REGISTERS = RegisterMap("system", [
    Register("WBINVD_COUNT", 0x0, (
        Field("count", 32, Access.R, "WBINVDs the cache has completed since reset (wraps)"),
    ), "The cores' WBINVD indicator: DF_FLUSH needs it to have moved since the last DEACTIVATE."),
    Register("CACHE_INFO", 0x1, (
        Field("lines", 16, Access.R, "64-byte lines in the cache (0: no cache)"),
        Field("ways", 4, Access.R, "ways per set"),
    ), "The cache's geometry."),
])
