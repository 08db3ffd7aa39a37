"""System memory as the host kernel sees and hands it out: 4 KiB pages, its own mappings (with the
C-bit when host SME is on), and the cache maintenance SEV asks of it.

The secure processor's accesses are coherent with the cores' cache under the tag they carry
(address with C-bit, and ASID; ``rtl/cache/README.md``): a command buffer the host wrote needs
no flush before the firmware reads it, nor one the firmware wrote before the host reads it, as
in Linux. What the host flushes is a page about to be used under *another* tag: its own mapping
of a guest page before the firmware rewrites it with the guest's key (``sev_clflush_pages``),
a page before the guest or the host switches its C-bit, and everything before an ASID's key is
replaced (WBINVD).
"""

from dataclasses import dataclass

__all__ = ["PAGE", "LINE", "OutOfMemory", "PageAllocator", "HostMemory", "MemoryMap", "MEMORY_MAP"]

PAGE = 4096
LINE = 64
#: A range of more lines than this is flushed with one WBINVD instead of a CLFLUSH per line, as
#: Linux's ``cpa_flush`` does for large ranges: a WBINVD of the whole cache costs about as much
#: as this many CLFLUSHes of clean lines, and never flushes too little.
FLUSH_ALL_ABOVE = 16


class OutOfMemory(Exception):
    """No free page is left in the pool."""


@dataclass(frozen=True)
class MemoryMap:
    """Where things live in system physical memory (addresses without the C-bit)."""
    command_buffer: int = 0x10_0000     # the PSP driver's command buffer (one page)
    pool_start: int = 0x20_0000         # pages the host hands out: its own buffers, guest RAM
    pool_end: int = 0x400_0000          # 62 MiB of pool: far more than a scenario uses

    @classmethod
    def for_memory(cls, memory_bytes):
        """The map for a machine with ``memory_bytes`` of DRAM (None: the simulated DRAM, which
        holds any address): on a board, the command buffer in page 1 (page 0 stays unused, as
        a zero address means "no buffer" to the firmware) and the pool above it."""
        if memory_bytes is None:
            return MEMORY_MAP
        if memory_bytes % PAGE or memory_bytes < 4 * PAGE:
            raise ValueError(f"a board's memory must be whole pages, at least 4, not {memory_bytes:#x} bytes")
        return cls(command_buffer=PAGE, pool_start=2 * PAGE, pool_end=memory_bytes)


MEMORY_MAP = MemoryMap()


class PageAllocator:
    """Free 4 KiB pages of ``[start, end)``, handed out lowest first."""

    def __init__(self, start=MEMORY_MAP.pool_start, end=MEMORY_MAP.pool_end):
        if start % PAGE or end % PAGE or end <= start:
            raise ValueError(f"a page pool needs page-aligned bounds, not {start:#x}..{end:#x}")
        self._free = list(range(start, end, PAGE))
        self._taken = set()
        self.start = start
        self.high_water = start         # the end of the highest page ever handed out

    def allocate(self, count=1):
        """``count`` pages (system addresses, not necessarily contiguous)."""
        if count > len(self._free):
            raise OutOfMemory(f"{count} pages asked, {len(self._free)} free")
        pages, self._free = self._free[:count], self._free[count:]
        self._taken.update(pages)
        if pages:
            self.high_water = max(self.high_water, pages[-1] + PAGE)
        return pages

    def release(self, pages):
        for page in pages:
            if page not in self._taken:
                raise ValueError(f"page {page:#x} was not allocated")
            self._taken.remove(page)
        self._free = sorted(self._free + list(pages))

    @property
    def free_pages(self):
        return len(self._free)


class HostMemory:
    """The host kernel's access to system memory through the cores (the host port, ASID 0).

    Parameters
    ----------
    machine
        Any backend of ``sim/machine``.
    me_mask : int
        The C-bit when host SME is on (the host maps its own memory encrypted with the SME key in
        slot 0), else 0: Linux's ``sme_me_mask``.
    """

    def __init__(self, machine, me_mask=0):
        self.machine = machine
        self.me_mask = me_mask
        self.map = MemoryMap.for_memory(machine.config.memory_bytes)
        self.pages = PageAllocator(self.map.pool_start, self.map.pool_end)

    def pa(self, address):
        """The address the host puts on the bus (and passes the firmware) for its own memory:
        ``__sme_pa``."""
        return address | self.me_mask

    async def read(self, address, length):
        return await self.machine.read(self.pa(address), length)

    async def write(self, address, data):
        await self.machine.write(self.pa(address), data)

    async def flush(self, address, length, *, asid=0, c_bit=None):
        """CLFLUSH every line of ``[address, address + length)`` as mapped with ``c_bit`` (the
        host's own mapping by default) and ``asid`` — or WBINVD, for a range of more than
        ``FLUSH_ALL_ABOVE`` lines."""
        mask = self.me_mask if c_bit is None else c_bit
        first = address - address % LINE
        lines = range(first, address + length, LINE)
        if len(lines) > FLUSH_ALL_ABOVE:
            await self.machine.wbinvd()
            return
        for line in lines:
            await self.machine.clflush(line | mask, asid=asid)

