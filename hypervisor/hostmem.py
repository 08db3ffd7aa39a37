"""System memory as the host kernel sees and hands it out: 4 KiB pages, its own mappings (with the
C-bit when host SME is on), and the cache maintenance that keeps the secure processor's view
(which bypasses the cores' cache) in step with the cores'.

The secure processor reads and writes DRAM through the privileged port, which does not go
through the cores' write-back cache. The host keeps one rule for the buffers it shares with it:
*a buffer page holds no line in the cache while the firmware may touch it*. A buffer the host
wrote is flushed (CLFLUSH, line by line) before the firmware reads it; a buffer the firmware
wrote is read and then flushed, so no stale copy stays behind for the next use of the page;
guest pages go back to the pool only after the WBINVD of a VM's destruction. (Linux gets the
first half from ``clflush_cache_range`` and ``sev_clflush_pages``; on real parts the secure
processor's accesses are coherent with the caches for the second.)
"""

from dataclasses import dataclass

__all__ = ["PAGE", "LINE", "OutOfMemory", "PageAllocator", "HostMemory", "MEMORY_MAP"]

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
        self.pages = PageAllocator()

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

    async def to_device(self, address, data):
        """Write a buffer the secure processor will read: write, then flush it to DRAM."""
        await self.write(address, data)
        await self.flush(address, len(data))

    async def from_device(self, address, length):
        """Read a buffer the secure processor wrote, then flush it (the rule above: no line of
        it stays in the cache)."""
        data = await self.read(address, length)
        await self.flush(address, length)
        return data
