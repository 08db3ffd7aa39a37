"""The cache's golden model (sim/model/cache.py): replacement, write-back, maintenance."""

import random

import pytest

from sevlab.rtl.cache import CACHE_REGISTERS, CacheOp
from sevlab.sim.model.cache import CacheModel, NoCacheModel, plru_touch, plru_victim
from sevlab.sim.model.meu import UnitModel

CBIT = 1 << 47
ALL = (1 << 64) - 1


def unit_with_keys(*asids):
    unit = UnitModel()
    unit.sme_enable = True
    for asid in asids:
        unit.install(asid, bytes([asid]) * 16, bytes([asid + 100]) * 16)
    return unit


def line(n, sets, set_index=0):
    """The n-th line address that falls in ``set_index``."""
    return 0x10_0000 + 64 * (set_index + n * sets)


@pytest.mark.parametrize("ways", [2, 4, 8])
def test_plru_never_picks_the_way_just_used(ways):
    rng = random.Random(ways)
    state = 0
    for _ in range(500):
        way = rng.randrange(ways)
        state = plru_touch(state, way, ways)
        assert plru_victim(state, ways) != way, f"state {state:#b}: victim is the way just used"
        assert 0 <= state < 1 << (ways - 1)


def test_plru_with_two_ways_is_lru():
    state = 0
    for way in (0, 1, 1, 0, 0, 1):
        state = plru_touch(state, way, 2)
        assert plru_victim(state, 2) == 1 - way


@pytest.mark.parametrize("ways", [4, 8])
def test_plru_touching_every_way_in_order_evicts_the_first(ways):
    # After 0, 1, ..., ways - 1 every node points away from the last half used: way 0.
    state = 0
    for way in range(ways):
        state = plru_touch(state, way, ways)
    assert plru_victim(state, ways) == 0


def test_hits_misses_and_write_allocate():
    unit = unit_with_keys(1)
    cache = CacheModel(unit, size_bytes=1024, ways=2)
    a = line(0, cache.sets) | CBIT
    assert cache.write(a, 1, b"\x11" * 64) is True               # whole line: allocated, no fill
    assert unit.counters["LINES_DECRYPTED"] == 0
    assert cache.read(a, 1) == (True, b"\x11" * 64)
    assert unit.dram == {}, "a write-back cache wrote through"
    partial = bytes(range(64))
    b = line(1, cache.sets) | CBIT
    assert cache.write(b, 1, partial, strobe=0xFF) is True        # partial: filled first
    assert unit.counters["LINES_DECRYPTED"] == 1
    _, old = unit.read(b, 1)                                      # what the fill brought in
    assert cache.read(b, 1) == (True, partial[:8] + old[8:])
    assert cache.counters == {"HITS": 2, "MISSES": 2, "WRITEBACKS": 0, "WRITEBACK_ERRORS": 0,
                              "SNOOP_HITS": 0, "SNOOP_MISSES": 0}


def test_a_dirty_victim_is_written_back_with_its_own_address_and_asid():
    unit = unit_with_keys(1, 2)
    cache = CacheModel(unit, size_bytes=256, ways=2)            # two sets of two ways
    lines = [line(n, cache.sets) for n in range(3)]
    cache.write(lines[0] | CBIT, 1, b"\xA1" * 64)
    cache.write(lines[1] | CBIT, 2, b"\xA2" * 64)
    cache.write(lines[2], 1, b"\xA3" * 64)                     # evicts lines[0] (LRU of two)
    assert cache.counters["WRITEBACKS"] == 1
    assert not cache.holds(lines[0] | CBIT, 1) and cache.holds(lines[1] | CBIT, 2)
    assert unit.read(lines[0] | CBIT, 1) == (True, b"\xA1" * 64), "written back under ASID 1's key"
    assert unit.dram[lines[0]] != b"\xA1" * 64, "a C=1 line reached DRAM in plaintext"


def test_the_tag_holds_the_cbit_and_the_asid():
    unit = unit_with_keys(1, 2)
    cache = CacheModel(unit, size_bytes=1024, ways=4)
    a = line(0, cache.sets)
    cache.write(a | CBIT, 1, b"\x01" * 64)
    for address, asid in ((a, 1), (a | CBIT, 2), (a, 2)):
        assert not cache.holds(address, asid)
        assert cache.read(address, asid)[1] != b"\x01" * 64
    assert cache.holds(a | CBIT, 1)


def test_a_refused_fill_caches_nothing_and_a_refused_write_back_loses_the_line():
    unit = unit_with_keys(1)
    cache = CacheModel(unit, size_bytes=1024, ways=2)
    a = line(0, cache.sets) | CBIT
    assert cache.read(a, 3) == (False, bytes(64))               # ASID 3 has no key
    assert cache.write(a, 3, bytes(64), strobe=0xF) is False
    assert not cache.holds(a, 3)
    assert cache.write(a, 1, b"\x55" * 64) is True
    unit.wipe(1)
    cache.wbinvd()
    assert cache.counters["WRITEBACKS"] == 1 and cache.counters["WRITEBACK_ERRORS"] == 1
    assert unit.dram == {}


def test_clflush_and_wbinvd():
    unit = unit_with_keys(1)
    cache = CacheModel(unit, size_bytes=1024, ways=2, asid_width=4)
    a, b = line(0, cache.sets) | CBIT, line(1, cache.sets, 3)
    cache.write(a, 1, b"\x0A" * 64)
    cache.write(b, 0, b"\x0B" * 64)
    cache.clflush(a, 17)                                       # past the ASID width: nothing
    cache.clflush(a, 0)                                        # another ASID's line: nothing
    assert cache.holds(a, 1) and unit.dram == {}
    cache.clflush(a + 12, 1)                                   # any byte of the line
    assert not cache.holds(a, 1) and unit.read(a, 1) == (True, b"\x0A" * 64)
    cache.wbinvd()
    assert unit.dram[b] == b"\x0B" * 64 and not cache.holds(b, 0)
    assert cache.wbinvd_count == 1 and cache.counters["WRITEBACKS"] == 2


def test_maintenance_registers_run_the_operations():
    unit = unit_with_keys(1)
    cache = CacheModel(unit, size_bytes=1024, ways=2)
    a = line(0, cache.sets) | CBIT
    cache.write(a, 1, b"\x42" * 64)
    for name, value in (("ADDRESS_LO", a & 0xFFFF_FFFF), ("ADDRESS_HI", a >> 32), ("ASID", 1),
                        ("COMMAND", CacheOp.CLFLUSH)):
        cache.maint_write(CACHE_REGISTERS[name].address, value)
    assert not cache.holds(a, 1)
    cache.maint_write(CACHE_REGISTERS["COMMAND"].address, CacheOp.WBINVD)
    assert cache.maint_read(CACHE_REGISTERS["WBINVD_COUNT"].address) == 1
    assert cache.maint_read(CACHE_REGISTERS["WRITEBACKS"].address) == 1
    cache.maint_write(CACHE_REGISTERS["COUNTERS_CLEAR"].address, 1)
    assert cache.maint_read(CACHE_REGISTERS["MISSES"].address) == 0


def test_no_cache_passes_through_and_counts_wbinvd():
    unit = unit_with_keys(1)
    passthrough = NoCacheModel(unit)
    assert passthrough.write(0x1000 | CBIT, 1, b"\x77" * 64) is True
    assert 0x1000 in unit.dram
    passthrough.wbinvd()
    assert passthrough.wbinvd_count == 1
