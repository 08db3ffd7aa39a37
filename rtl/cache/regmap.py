"""The cache's maintenance registers (the CPU side: WBINVD and CLFLUSH). See ``rtl/cache/README.md``.

These sit on the cache's own register bus, ``maint``, which belongs to the cores (the machine
API's ``wbinvd()`` and ``clflush()``), not on the secure port. The secure processor sees only
``WBINVD_COUNT``, mirrored into the system's secure window (``rtl/memsys/regmap.py``), which is
how its firmware knows that a WBINVD has run since it deactivated an ASID.
"""

from ..csr import Access, Field, Register, RegisterMap, event_counters

__all__ = ["CACHE_REGISTERS", "CacheOp", "COUNTERS", "MAINT_ADDRESS_WIDTH"]

MAINT_ADDRESS_WIDTH = 4


class CacheOp:
    """Values of ``COMMAND.op``."""
    WBINVD = 1
    CLFLUSH = 2


#: Event counters: register name -> what it counts.
COUNTERS = {
    "HITS": "host requests that found their line (address with C-bit, and ASID) in the cache",
    "MISSES": "host requests that did not (a fill, or a whole-line write allocated without one)",
    "WRITEBACKS": "dirty lines written to the unit (evictions, CLFLUSH, WBINVD)",
    "WRITEBACK_ERRORS": "write-backs the unit refused (no key in the line's slot): that data is lost",
    "SNOOP_HITS": "secure-processor requests served from a cached line (same address with C-bit, same ASID)",
    "SNOOP_MISSES": "secure-processor requests passed to the unit (nothing allocated)",
}

CACHE_REGISTERS = RegisterMap("cache", [
    Register("COMMAND", 0x0, (
        Field("op", 2, Access.W, "1: WBINVD (write back and invalidate every line); "
                                 "2: CLFLUSH the line at ADDRESS_LO/HI tagged with ASID"),
    ), "Starts a maintenance operation; ignored while STATUS.busy is 1."),
    Register("STATUS", 0x1, (
        Field("busy", 1, Access.R, "a maintenance operation is running"),
    ), "Maintenance status: poll until busy is 0."),
    Register("ADDRESS_LO", 0x2, (
        Field("bits", 32, Access.RW, "CLFLUSH physical address bits 31:0 (with the C-bit, if it is there)"),
    ), "CLFLUSH address, low word."),
    Register("ADDRESS_HI", 0x3, (
        Field("bits", 32, Access.RW, "CLFLUSH physical address bits 63:32 (the C-bit is bit 47 by default)"),
    ), "CLFLUSH address, high word."),
    Register("ASID", 0x4, (
        Field("asid", 16, Access.RW, "ASID of the line CLFLUSH flushes"),
    ), "CLFLUSH ASID."),
    Register("LAST_CYCLES", 0x5, (
        Field("cycles", 32, Access.R, "clock cycles the last maintenance operation took, command to done"),
    ), "Duration of the last maintenance operation."),
    Register("WBINVD_COUNT", 0x6, (
        Field("count", 32, Access.R, "WBINVD operations completed since reset (wraps)"),
    ), "Completed WBINVDs; the secure processor reads the same count."),
    *event_counters(COUNTERS, base=0x8, clear_address=0xF),
])
