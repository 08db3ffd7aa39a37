"""The ASID-tagged write-back cache (rtl/cache) in front of the unit, on Amaranth's simulator,
against the golden model (sim/model/cache.py)."""

import itertools

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from sevlab.rtl.cache import CACHE_REGISTERS, CacheOp, WriteBackCache
from sevlab.rtl.cache.plru import plru_touch, plru_victim
from sevlab.sim import coherency
from sevlab.sim.machine import (CacheDriver, KeySlotDriver, MachineConfig, Read,
                                SystemDriver, UnitDriver, Write, run)
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic
from sevlab.sim.model import cache as cache_model
from sevlab.sim.model.meu import line_tweak
from sevlab.sim.model.xts import xts_decrypt

CBIT = 1 << 47
KEY = (bytes(range(16)), bytes(range(16, 32)))


@pytest.mark.parametrize("ways", [2, 4, 8])
def test_plru_logic_matches_the_model(ways):
    """Every state and way: the RTL's victim and update are the golden model's."""
    m = Module()
    state, way = Signal(ways - 1), Signal(range(ways))
    victim, touched = Signal(range(ways)), Signal(ways - 1)
    m.d.comb += [victim.eq(plru_victim(state, ways)), touched.eq(plru_touch(state, way, ways))]
    mismatches = []

    async def testbench(ctx):
        for s, w in itertools.product(range(1 << (ways - 1)), range(ways)):
            ctx.set(state, s)
            ctx.set(way, w)
            got = (ctx.get(victim), ctx.get(touched))
            want = (cache_model.plru_victim(s, ways), cache_model.plru_touch(s, w, ways))
            if got != want:
                mismatches.append((s, w, got, want))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, f"(state, way, RTL, model): {mismatches[:5]}"


@pytest.mark.parametrize("size, ways, batch, stall", [
    (1024, 2, 8, 0.3), (8192, 4, 12, 0.0), (2048, 8, 4, 0.2)],
    ids=["1KiB-2way-stall", "8KiB-4way", "2KiB-8way-stall"])
def test_random_traffic_matches_the_model(size, ways, batch, stall):
    """Mixed traffic through the cache (C=0/1, partial writes, short reads, five ASIDs, host and
    privileged ports, SME/TSME/off, re-keying, interleaved CLFLUSH and WBINVD): every result, the
    counters of both blocks, and DRAM after the final WBINVD as the golden model says."""
    config = MachineConfig(engine="compact", cache_bytes=size, cache_ways=ways)
    plan = TrafficPlan(transactions=160, seed=size + ways, batch=batch, lines=64)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    expected, _ = run(scenario, backend="model", config=config)
    got, _ = run(scenario, backend="amaranth", config=config, stall=stall, seed=5)
    assert len(got.results) == plan.transactions
    for n, (want, have) in enumerate(zip(expected.results, got.results)):
        assert have == want, f"operation {n}: got {have!r}, expected {want!r}"
    for line, data in expected.dram.items():
        assert got.dram[line] == data, f"DRAM line {line:#x}: {got.dram[line].hex()} != {data.hex()}"
    assert got.counters == expected.counters
    assert expected.counters["CACHE_WRITEBACKS"] > 0 and expected.counters["CACHE_HITS"] > 0


@pytest.mark.parametrize("name", list(coherency.DEMONSTRATIONS))
def test_coherency_demonstration(name):
    """The three demonstrations of rtl/cache/README.md: every claim holds on the RTL, and the
    RTL saw exactly what the golden model sees."""
    config = MachineConfig(engine="compact")
    scenario = coherency.DEMONSTRATIONS[name]
    got, _ = run(scenario, backend="amaranth", config=config)
    failed = [claim for claim, held in coherency.claims(name, got) if not held]
    assert not failed, f"{name}: {failed}"
    expected, _ = run(scenario, backend="model", config=config)
    assert got == expected


def test_wbinvd_of_a_full_dirty_cache():
    """Every line dirty: WBINVD writes all of them back, reports its cycles, and counts."""
    config = MachineConfig(engine="compact", cache_bytes=1024, cache_ways=2)
    lines = [0x20_0000 + 64 * n for n in range(16)]

    async def scenario(machine):
        await KeySlotDriver(machine).install(1, *KEY)
        await UnitDriver(machine).configure(sme_enable=True)
        cache = CacheDriver(machine)
        for n, line in enumerate(lines):
            await machine.write_line(line | CBIT, bytes([n]) * 64, asid=1)
        before = await cache.counters()
        await machine.maint_write(CACHE_REGISTERS["COMMAND"].address, CacheOp.WBINVD)
        busy = []
        while not busy or busy[-1]:
            busy.append((await cache.read("STATUS"))["busy"])
        dirty_cycles = (await cache.read("LAST_CYCLES"))["cycles"]
        dram = [await machine.dram_read(line, 64) for line in lines]
        clean_cycles = await cache.wbinvd()
        return {"before": before, "busy": busy, "dirty_cycles": dirty_cycles, "dram": dram,
                "clean_cycles": clean_cycles, "after": await cache.counters(),
                "count": await SystemDriver(machine).wbinvd_count(),
                "lines": [await machine.read_line(line | CBIT, asid=1) for line in lines]}

    result, _ = run(scenario, backend="amaranth", config=config)
    assert result["before"]["WRITEBACKS"] == 0
    assert result["busy"][0] == 1, "STATUS.busy is not set while WBINVD runs"
    assert result["after"]["WRITEBACKS"] == 16, result["after"]
    assert result["count"] == 2
    assert all(stored not in (bytes(64), bytes([n]) * 64) for n, stored in enumerate(result["dram"])), \
        "after WBINVD every line is in DRAM, encrypted"
    # A clean cache: one cycle a line, plus starting and finishing; a dirty line costs a
    # write-back through the unit on top.
    assert 16 <= result["clean_cycles"] <= 16 + 4, result["clean_cycles"]
    assert result["dirty_cycles"] > 16 * 8, result["dirty_cycles"]
    assert result["lines"] == [bytes([n]) * 64 for n in range(16)]


def test_clflush_with_an_asid_past_the_port_width_flushes_nothing():
    """The ASID register is 16 bits; the tag holds 4. ASID 17 must not flush ASID 1's line."""
    config = MachineConfig(engine="compact")

    async def scenario(machine):
        await KeySlotDriver(machine).install(1, *KEY)
        await UnitDriver(machine).configure(sme_enable=True)
        await machine.write_line(0x4000 | CBIT, b"\x3C" * 64, asid=1)
        driver = CacheDriver(machine)
        await driver.clflush(0x4000 | CBIT, 17)
        kept = await machine.dram_read(0x4000, 64)
        await driver.clflush(0x4000 | CBIT, 1)
        return kept, await machine.dram_read(0x4000, 64), await driver.counters()

    for backend in ("model", "amaranth"):
        kept, flushed, counters = run(scenario, backend=backend, config=config)[0]
        assert kept == bytes(64), f"{backend}: CLFLUSH with ASID 17 wrote the line back"
        assert flushed != bytes(64) and counters["WRITEBACKS"] == 1, backend


def test_the_secure_port_sees_the_wbinvd_count_and_the_geometry():
    async def scenario(machine):
        system = SystemDriver(machine)
        counts = [await system.wbinvd_count()]
        await machine.wbinvd()
        await machine.clflush(0x1000)
        counts.append(await system.wbinvd_count())
        return counts, await system.cache_info()

    for cache_bytes, info in ((4096, {"lines": 64, "ways": 4}), (0, {"lines": 0, "ways": 0})):
        config = MachineConfig(engine="compact", cache_bytes=cache_bytes)
        for backend in ("model", "amaranth"):
            counts, got_info = run(scenario, backend=backend, config=config)[0]
            assert counts == [0, 1], f"{backend}, {cache_bytes} bytes: WBINVD counts {counts}"
            assert got_info == info, f"{backend}, {cache_bytes} bytes: {got_info}"


def test_parameters_are_checked(half_built_components):
    with pytest.raises(ValueError, match="Ways must be one of"):
        WriteBackCache(ways=3)
    with pytest.raises(ValueError, match="power of two of at least 512 bytes"):
        WriteBackCache(size_bytes=256, ways=4)
    with pytest.raises(ValueError, match="power of two"):
        WriteBackCache(size_bytes=3000)


def _on_both(scenario, config):
    """Run on the RTL; require the golden model to see the same."""
    got, _ = run(scenario, backend="amaranth", config=config)
    expected, _ = run(scenario, backend="model", config=config)
    assert got == expected, "the RTL differs from the golden model"
    return got


def test_sec_cm_cache_tag_asid_cbit():
    """A line cached by ASID 1 with C=1 is not a hit for ASID 2, nor for ASID 1 with C=0."""
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        for asid in (1, 2):
            await keys.install(asid, bytes([asid]) * 16, bytes([asid + 8]) * 16)
        await UnitDriver(machine).configure(sme_enable=True)
        secret = b"ASID 1's plaintext, only in the cache".ljust(64, b".")
        await machine.write_line(0x6000 | CBIT, secret, asid=1)
        before = await CacheDriver(machine).counters()
        others = await machine.issue([Read(0x6000 | CBIT, 4, 2), Read(0x6000, 4, 1), Read(0x6000, 4, 0)])
        after = await CacheDriver(machine).counters()
        return secret, others, after["HITS"] - before["HITS"], after["MISSES"] - before["MISSES"]

    secret, others, hits, misses = _on_both(scenario, MachineConfig(engine="compact"))
    assert (hits, misses) == (0, 3), f"{hits} hits, {misses} misses: another tag hit ASID 1's line"
    assert all(other != secret for other in others)


def test_sec_cm_cache_writeback_own_tag():
    """ASID 1's dirty line, evicted by ASID 2's traffic in the same set, reaches DRAM encrypted
    under ASID 1's key at its own address."""
    config = MachineConfig(engine="compact", cache_bytes=256, cache_ways=2)     # 2 sets
    key1 = (bytes([1]) * 16, bytes([9]) * 16)
    data = bytes(range(64))

    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await keys.install(1, *key1)
        await keys.install(2, bytes([2]) * 16, bytes([10]) * 16)
        await UnitDriver(machine).configure(sme_enable=True)
        await machine.write_line(0x8000 | CBIT, data, asid=1)
        for n in (1, 2):                        # same set (two sets of 64 bytes: stride 128)
            await machine.write_line(0x8000 + 128 * n | CBIT, bytes(64), asid=2)
        return await machine.dram_read(0x8000, 64), await CacheDriver(machine).counters()

    stored, counters = _on_both(scenario, config)
    assert counters["WRITEBACKS"] == 1
    assert xts_decrypt(key1[0] + key1[1], line_tweak(0x8000), stored) == data


def test_sec_cm_cache_snoop_same_tag():
    """The secure processor's port: a read of a line the cores hold dirty under the same tag gets
    the cores' data (DRAM is older), a write merges into it; under another tag (ASID 1 with C=1)
    it reaches DRAM instead; and a snoop miss leaves nothing in the cache, so the next host
    read of that line is a miss."""
    async def scenario(machine):
        await UnitDriver(machine).configure(sme_enable=True)
        await KeySlotDriver(machine).install(1, *KEY)
        await machine.write_line(0x4000, b"\x11" * 64)                       # dirty, host tag
        snooped = await machine.read_line(0x4000, port="priv")
        await machine.write(0x4010, b"\x22" * 16, port="priv")               # merges, stays dirty
        dram_before = await machine.dram_read(0x4000, 64)
        other_tag = await machine.read_line(0x4000 | CBIT, asid=1, port="priv")
        await machine.write_line(0x8000 | CBIT, b"\x33" * 64, asid=1, port="priv")   # a miss
        host_sees = await machine.read_line(0x4000)
        counters = await CacheDriver(machine).counters()
        encrypted = await machine.dram_read(0x8000, 64)
        after = await machine.read_line(0x8000 | CBIT, asid=1)                # a host miss
        return (snooped, dram_before, other_tag, host_sees, counters, encrypted, after,
                (await CacheDriver(machine).counters())["MISSES"])

    (snooped, dram_before, other_tag, host_sees, counters, encrypted, after,
     misses_after) = _on_both(scenario, MachineConfig(engine="compact"))
    assert snooped == b"\x11" * 64 and dram_before == bytes(64)
    assert other_tag == xts_decrypt(KEY[0] + KEY[1], line_tweak(0x4000), bytes(64))
    assert host_sees == b"\x11" * 16 + b"\x22" * 16 + b"\x11" * 32
    assert encrypted != b"\x33" * 64 and after == b"\x33" * 64
    assert (counters["SNOOP_HITS"], counters["SNOOP_MISSES"], counters["HITS"]) == (2, 2, 1)
    assert misses_after == counters["MISSES"] + 1


def test_sec_cm_cache_fill_refused():
    """A read by an ASID without a key is refused with zeros and caches nothing: once the key
    is there, the next read fetches from DRAM."""
    async def scenario(machine):
        await UnitDriver(machine).configure(sme_enable=True)
        refused = [type(result).__name__ for result in
                   await machine.issue([Read(0x9000 | CBIT, 4, 3), Write(0x9000 | CBIT, bytes(16), 3, strobe=1)])]
        await KeySlotDriver(machine).install(3, *KEY)
        await machine.dram_write(0x9000, b"\xEE" * 64)
        return refused, await machine.read_line(0x9000 | CBIT, asid=3), await CacheDriver(machine).counters()

    refused, later, counters = _on_both(scenario, MachineConfig(engine="compact"))
    assert refused == ["BusError", "BusError"], refused
    assert later == xts_decrypt(KEY[0] + KEY[1], line_tweak(0x9000), b"\xEE" * 64)
    assert counters["HITS"] == 0 and counters["MISSES"] == 3
