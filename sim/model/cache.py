"""The golden model of the ASID-tagged write-back cache (``rtl/cache/``).

Same lines, same tags (the full physical address with its C-bit, and the ASID), same victim
choice (the lowest invalid way, else tree pseudo-LRU), same write-backs in the same order, so that
the DRAM it leaves behind is byte-identical to the RTL's. The level below is anything with the
unit model's ``read(line, asid)`` and ``write(line, asid, data, strobe)``. See
``rtl/cache/README.md``.
"""

from ...rtl.cache.regmap import CACHE_REGISTERS, COUNTERS, CacheOp
from .meu import LINE_BYTES

__all__ = ["CacheModel", "NoCacheModel", "plru_victim", "plru_touch"]

_ALL_BYTES = (1 << LINE_BYTES) - 1


def plru_victim(state, ways):
    """The way the tree of ``ways - 1`` bits points to (bit n - 1 is node n; 0 = lower half)."""
    node, way = 1, 0
    while node < ways:
        bit = state >> (node - 1) & 1
        way, node = 2 * way + bit, 2 * node + bit
    return way


def plru_touch(state, way, ways):
    """The state after using ``way``: every node on its path points to the other half."""
    levels = ways.bit_length() - 1
    node = 1
    for depth in range(levels):
        bit = way >> (levels - 1 - depth) & 1
        state = state & ~(1 << (node - 1)) | (1 - bit) << (node - 1)
        node = 2 * node + bit
    return state


class _Line:
    __slots__ = ("valid", "dirty", "line", "asid", "data")

    def __init__(self):
        self.valid = self.dirty = False
        self.line = self.asid = 0           # line address with the C-bit; ASID
        self.data = bytearray(LINE_BYTES)


class _MaintenanceRegisters:
    """The maintenance bus (``rtl/cache/regmap.py``) on a model: operations complete at once."""

    def _init_registers(self):
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.wbinvd_count = 0
        self._address = 0
        self._asid = 0

    def maint_read(self, address):
        register = CACHE_REGISTERS.by_address(address)
        if register is None:
            return 0
        name = register.name
        if name == "ADDRESS_LO":
            return self._address & 0xFFFF_FFFF
        if name == "ADDRESS_HI":
            return self._address >> 32 & 0xFFFF_FFFF
        if name == "ASID":
            return self._asid
        if name == "WBINVD_COUNT":
            return self.wbinvd_count & 0xFFFF_FFFF
        if name in COUNTERS:
            return self.counters[name] & 0xFFFF_FFFF
        return 0        # STATUS (never busy), LAST_CYCLES (no clock), write-only registers

    def maint_write(self, address, value):
        register = CACHE_REGISTERS.by_address(address)
        if register is None:
            return
        name, fields = register.name, register.decode(value)
        if name == "ADDRESS_LO":
            self._address = self._address & ~0xFFFF_FFFF | fields["bits"]
        elif name == "ADDRESS_HI":
            self._address = self._address & 0xFFFF_FFFF | fields["bits"] << 32
        elif name == "ASID":
            self._asid = fields["asid"]
        elif name == "COUNTERS_CLEAR" and fields["clear"]:
            self.counters = dict.fromkeys(COUNTERS, 0)
        elif name == "COMMAND" and fields["op"] == CacheOp.WBINVD:
            self.wbinvd()
        elif name == "COMMAND" and fields["op"] == CacheOp.CLFLUSH:
            self.clflush(self._address, self._asid)


class NoCacheModel(_MaintenanceRegisters):
    """The cache-less configuration: requests go straight to the unit; WBINVD only counts."""

    def __init__(self, below):
        self.below = below
        self._init_registers()

    def read(self, line, asid):
        return self.below.read(line, asid)

    def write(self, line, asid, data, strobe=_ALL_BYTES):
        return self.below.write(line, asid, data, strobe)

    snoop_read, snoop_write = read, write

    def wbinvd(self):
        self.wbinvd_count += 1

    def clflush(self, address, asid):
        pass


def _merge(entry, data, strobe):
    for n in range(LINE_BYTES):
        if strobe >> n & 1:
            entry.data[n] = data[n]
    entry.dirty = True


class CacheModel(_MaintenanceRegisters):
    """A set-associative write-back, write-allocate cache of 64-byte lines.

    Parameters
    ----------
    below : UnitModel (or anything with its ``read`` and ``write``)
    size_bytes, ways : int
        As :class:`~sevlab.rtl.cache.WriteBackCache`.
    asid_width : int
        ASID bits of the port: CLFLUSH of a wider ASID flushes nothing.
    """

    def __init__(self, below, *, size_bytes=8192, ways=4, asid_width=4):
        self.below = below
        self.ways = ways
        self.sets = size_bytes // LINE_BYTES // ways
        self.asid_width = asid_width
        self._lines = [[_Line() for _ in range(ways)] for _ in range(self.sets)]
        self._plru = [0] * self.sets
        self._init_registers()

    # Host requests (line-aligned, like the unit model's) -------------------------------------
    def read(self, line, asid):
        """``(ok, data)``: a refused fill returns 64 zero bytes and caches nothing."""
        entry = self._find(line, asid)
        if entry is None:
            entry = self._allocate(line, asid, fill=True)
            if entry is None:
                return False, bytes(LINE_BYTES)
        return True, bytes(entry.data)

    def write(self, line, asid, data, strobe=_ALL_BYTES):
        """Merge the strobed bytes into the cached line; returns ok (False: the fill was refused)."""
        entry = self._find(line, asid)
        if entry is None:
            entry = self._allocate(line, asid, fill=strobe != _ALL_BYTES)
            if entry is None:
                return False
        _merge(entry, data, strobe)
        return True

    # The secure processor's requests: coherent, never allocating ------------------------------
    def snoop_read(self, line, asid):
        """``(ok, data)`` from the cached line tagged ``asid``, else from the unit."""
        entry = self._cached(line, asid)
        if entry is None:
            return self.below.read(line, asid)
        return True, bytes(entry.data)

    def snoop_write(self, line, asid, data, strobe=_ALL_BYTES):
        """Merge into the cached line tagged ``asid`` (it stays dirty), else write to the unit."""
        entry = self._cached(line, asid)
        if entry is None:
            return self.below.write(line, asid, data, strobe)
        _merge(entry, data, strobe)
        return True

    def _cached(self, line, asid):
        # A snoop leaves the replacement order alone.
        entry = self._holding(line, asid)
        self.counters["SNOOP_MISSES" if entry is None else "SNOOP_HITS"] += 1
        return entry

    # Maintenance -----------------------------------------------------------------------------
    def clflush(self, address, asid):
        """Write back (if dirty) and invalidate the line of ``address`` tagged ``asid``."""
        if asid >> self.asid_width:
            return
        entry = self._holding(address - address % LINE_BYTES, asid)
        if entry is not None:
            if entry.dirty:
                self._write_back(entry)
            entry.valid = entry.dirty = False

    def wbinvd(self):
        """Write back every dirty line (set by set, way by way) and invalidate everything."""
        for lines in self._lines:
            for entry in lines:
                if entry.dirty:
                    self._write_back(entry)
                entry.valid = entry.dirty = False
        self.wbinvd_count += 1

    def holds(self, line, asid):
        """Whether the line (address with C-bit) tagged ``asid`` is cached (for tests)."""
        return self._holding(line, asid) is not None

    def _holding(self, line, asid):
        """The valid entry for ``line`` tagged ``asid``, or None (no counting, no PLRU touch)."""
        return next((e for e in self._set(line) if e.valid and e.line == line and e.asid == asid), None)

    # Inside ----------------------------------------------------------------------------------
    def _set_index(self, line):
        return line // LINE_BYTES % self.sets

    def _set(self, line):
        return self._lines[self._set_index(line)]

    def _touch(self, line, way):
        index = self._set_index(line)
        self._plru[index] = plru_touch(self._plru[index], way, self.ways)

    def _find(self, line, asid):
        for way, entry in enumerate(self._set(line)):
            if entry.valid and entry.line == line and entry.asid == asid:
                self.counters["HITS"] += 1
                self._touch(line, way)
                return entry
        self.counters["MISSES"] += 1
        return None

    def _allocate(self, line, asid, *, fill):
        lines = self._set(line)
        way = next((n for n, e in enumerate(lines) if not e.valid),
                   None)
        if way is None:
            way = plru_victim(self._plru[self._set_index(line)], self.ways)
        entry = lines[way]
        if entry.valid and entry.dirty:
            self._write_back(entry)
        entry.valid = entry.dirty = False
        if fill:
            ok, data = self.below.read(line, asid)
            if not ok:
                return None
            entry.data[:] = data
        entry.valid, entry.line, entry.asid = True, line, asid
        self._touch(line, way)
        return entry

    def _write_back(self, entry):
        ok = self.below.write(entry.line, entry.asid, bytes(entry.data), _ALL_BYTES)
        self.counters["WRITEBACKS"] += 1
        if not ok:
            self.counters["WRITEBACK_ERRORS"] += 1
