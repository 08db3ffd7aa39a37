"""The small memory encryption unit (rtl/meu_small) on Amaranth's simulator, against the golden
model: its own cases. What both units must do alike (random traffic, routing, refusals, partial
writes, counters, CONFIG) runs on both in test_meu.py, whose helpers this file uses.

Security countermeasure tests are named test_sec_cm_<id> (rtl/meu/README.md, rtl/keyslots/README.md).
"""

import pytest
from amaranth.back import rtlil

from sevlab.rtl.keyslots.table import KeyRow
from sevlab.rtl.memsys import MemorySystem
from sevlab.rtl.meu_small import SmallEncryptionUnit
from sevlab.sim.machine import BusError, KeySlotDriver, MachineConfig, Read, Write
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic
from sevlab.sim.model.meu import line_tweak
from sevlab.sim.model.xts import xts_decrypt
# The helpers and configurations of the unit tests both units share (pytest puts this folder on
# the path).
from test_meu import COMPACT, KEYS, PLAIN, SMALL, check_against_model, on, setup

CBIT = 1 << SMALL.cbit_position


def test_the_system_builds_the_small_unit():
    system = MemorySystem(cache_bytes=0, unit="small", engine="compact", slots=4, address_width=24,
                          cbit_position=23)
    assert isinstance(system.unit, SmallEncryptionUnit)
    assert system.unit.keyslots.layout == "rows"
    rtlil.convert(system)
    standard = MemorySystem(cache_bytes=0, engine="compact")
    assert standard.unit_name == "standard"
    rtlil.convert(standard)


def test_parameters_are_checked(half_built_components):
    with pytest.raises(ValueError, match="not 'pipelined'"):
        SmallEncryptionUnit(engine="pipelined")
    with pytest.raises(ValueError, match="Unit must be one of"):
        MemorySystem(unit="tiny")


@pytest.mark.parametrize("seed", [3, 29])
def test_random_traffic_other_seeds(seed):
    plan = TrafficPlan(transactions=80, seed=seed, batch=6)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    check_against_model(scenario, stall=0.2, seed=seed, config=SMALL)


def test_random_traffic_behind_the_cache():
    """The small unit behind the write-back cache (the unit's privileged port then unused)."""
    plan = TrafficPlan(transactions=100, seed=5)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    check_against_model(scenario, stall=0.2, seed=3, config=MachineConfig(engine="compact", unit="small"))


def test_random_traffic_on_the_narrow_engine():
    """The same traffic on AESNarrow (rtl/aes/narrow.py), the iCEBreaker's engine."""
    plan = TrafficPlan(transactions=120, seed=7)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    check_against_model(scenario, stall=0.3, config=MachineConfig(engine="narrow", cache_bytes=0, unit="small"))










def test_refused_bursts_answer_slverr_and_count_err_bad_burst():
    """Bursts the unit does not take (narrow beats, a line crossing, WRAP, too long), driven by
    hand on the bare unit (the machine API only issues legal ones): every beat answered with
    SLVERR and zeros, the ID echoed, ERR_BAD_BURST counts them, DRAM is never touched."""
    unit = SmallEncryptionUnit(slots=4, address_width=24, cbit_position=23)
    bursts = [
        # (port, write, address, AxLEN, AxSIZE, AxBURST)
        ("host", False, 0xE000, 3, 3, 1),       # 8-byte beats
        ("priv", False, 0xE020, 3, 4, 1),       # crosses the line
        ("host", True, 0xE040, 2, 4, 2),        # WRAP of 3 beats
        ("priv", True, 0xE070, 7, 4, 1),        # 8 beats from the line's last beat
        ("host", False, 0xE070, 0, 4, 0),       # one FIXED beat: legal, a C=0 read
    ]
    answers, dram_seen, counters = [], [], {}

    async def testbench(ctx):
        for name in ("arready", "awready", "wready", "bvalid", "rvalid"):
            ctx.set(getattr(unit.dram, name), 0)
        for port, write, address, length, size, burst in bursts:
            bus = getattr(unit, port)
            prefix = "aw" if write else "ar"
            for name, value in (("addr", address), ("len", length), ("size", size), ("burst", burst),
                                ("id", 5), ("user", 1), ("valid", 1)):
                ctx.set(getattr(bus, prefix + name), value)
            for _ in range(20):
                handshake = ctx.get(getattr(bus, prefix + "ready"))
                await ctx.tick()
                if handshake:
                    break
            ctx.set(getattr(bus, prefix + "valid"), 0)
            beats = []
            if write:
                ctx.set(bus.wvalid, 1)
                for n in range(length + 1):
                    ctx.set(bus.wlast, n == length)
                    await ctx.tick().until(bus.wready)
                ctx.set(bus.wvalid, 0)
                ctx.set(bus.bready, 1)
                bresp, bid = await ctx.tick().sample(bus.bresp, bus.bid).until(bus.bvalid)
                beats.append((bresp, bid))
                ctx.set(bus.bready, 0)
            else:
                ctx.set(bus.rready, 1)
                for _ in range(40):
                    if ctx.get(unit.dram.arvalid):
                        dram_seen.append(address)
                        break
                    beat = None
                    if ctx.get(bus.rvalid):
                        beat = (ctx.get(bus.rresp), ctx.get(bus.rid), ctx.get(bus.rdata), ctx.get(bus.rlast))
                        beats.append(beat)
                    await ctx.tick()
                    if beat and beat[3]:
                        break
                ctx.set(bus.rready, 0)
            answers.append(beats)
            dram_seen.append(ctx.get(unit.dram.arvalid) or ctx.get(unit.dram.awvalid))
        await ctx.tick().repeat(3)
        counter = unit.register_map["ERR_BAD_BURST"].address
        ctx.set(unit.csr.addr, counter)
        ctx.set(unit.csr.r_stb, 1)
        await ctx.tick()
        ctx.set(unit.csr.r_stb, 0)
        counters["ERR_BAD_BURST"] = ctx.get(unit.csr.r_data)

    from amaranth.sim import Simulator
    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run_until(1e-8 * 2000)
    assert answers[0] == [(2, 5, 0, 0)] * 3 + [(2, 5, 0, 1)], answers[0]
    assert answers[1] == [(2, 5, 0, 0)] * 3 + [(2, 5, 0, 1)], answers[1]
    assert answers[2] == [(2, 5)] and answers[3] == [(2, 5)], answers[2:4]
    assert dram_seen[:4] == [0, 0, 0, 0], "a refused burst reached DRAM"
    assert answers[4] == [] and dram_seen[4:] == [0xE070, 1], "the legal FIXED beat goes to DRAM"
    assert counters["ERR_BAD_BURST"] == 4








def test_sec_cm_keyslots_slot_atomic_update():
    """Re-keying and wiping slots while their traffic is queued: each line is entirely under
    the old key or the new one, and requests after a wipe are refused."""
    new_key1, new_key2 = bytes(range(0x40, 0x50)), bytes(range(0xC0, 0xD0))
    key1, key2 = KEYS[1]
    lines = [0x20000 + 64 * n for n in range(16)]
    data = {line: bytes((line >> 6) + n & 0xFF for n in range(64)) for line in lines}

    async def scenario(machine):
        await setup(machine)
        keys = KeySlotDriver(machine)
        handle = machine.start([Write(line | CBIT, data[line], asid=1) for line in lines])
        await machine.tick(300)                 # some lines are through, some are not
        await keys.install(1, new_key1, new_key2)
        results = await machine.wait(handle)
        stored = {line: await machine.dram_read(line, 64) for line in lines}
        handle = machine.start([Read(line | CBIT, 4, asid=2) for line in lines[:8]])
        await machine.tick(100)
        await keys.wipe(2)
        refused = await machine.wait(handle)
        return results, stored, refused

    results, stored, refused = on("amaranth", scenario, SMALL, stall=0.1)[0]
    assert results == [None] * len(lines)
    users = []
    for line in lines:
        old = xts_decrypt(key1 + key2, line_tweak(line), stored[line]) == data[line]
        new = xts_decrypt(new_key1 + new_key2, line_tweak(line), stored[line]) == data[line]
        assert old != new, f"line {line:#x} is not entirely under one key"
        users.append("old" if old else "new")
    assert "old" in users and "new" in users, f"the re-key did not land mid-traffic: {users}"
    served = [not isinstance(result, BusError) for result in refused]
    assert served[0] and not served[-1], f"the wipe did not land mid-traffic: {served}"
    assert served == sorted(served, reverse=True), "a read after the wipe was served"


def test_sec_cm_keyslots_key_wipe_rows():
    """The key rows of a wiped slot hold zeros; the staging rows are zeroed after a command."""
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await setup(machine)
        table = machine.dut.unit.keyslots
        rows = [table.memory.data[table.row(which, 2)]
                for which in (KeyRow.KEY1, KeyRow.KEY1_DECRYPT, KeyRow.KEY2)]
        staging = [table.memory.data[table.row(KeyRow.STAGING, n)] for n in (0, 1)]
        before = [await machine.peek(row) for row in rows]
        staged_after_install = [await machine.peek(row) for row in staging]
        await keys.wipe(2)
        after = [await machine.peek(row) for row in rows]
        (refused,) = await machine.issue([Write(0x4000 | CBIT, bytes(64), asid=2)])
        return before, staged_after_install, after, refused

    before, staged, after, refused = on("amaranth", scenario, SMALL)[0]
    assert before[0] == int.from_bytes(KEYS[2][0], "little") and before[2] == int.from_bytes(KEYS[2][1], "little")
    assert before[1] != 0
    assert staged == [0, 0], "staged key words left in the staging rows"
    assert after == [0, 0, 0], f"wiped slot still holds {after}"
    assert isinstance(refused, BusError)


def test_cycles_per_request():
    """The figures in rtl/meu_small/README.md (memory latency 16, no stalls), printed for both
    units: cycles from the address handshake to the last R beat or the B response, both
    counted; then bytes a cycle for 32 whole C=1 lines issued together."""
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0xF000 | CBIT, PLAIN, asid=1)
        cases = {
            "read C=0, 4 beats": Read(0xF100, 4), "read C=1, 4 beats": Read(0xF000 | CBIT, 4, asid=1),
            "read C=1, 1 beat": Read(0xF000 | CBIT, 1, asid=1),
            "write C=0, 4 beats": Write(0xF100, PLAIN),
            "write C=1, 4 whole beats": Write(0xF040 | CBIT, PLAIN, asid=1),
            "write C=1, 1 partial beat": Write(0xF040 | CBIT, bytes(16), asid=1, strobe=0x00F0),
            "write C=1, 4 partial beats": Write(0xF040 | CBIT, PLAIN, asid=1, strobe=int("0ff0" * 4, 16)),
        }
        cycles = {}
        for name, op in cases.items():
            handle = machine.start([op])
            await machine.wait(handle)
            cycles[name] = handle[0].done_at - handle[0].issued + 1
        for kind in ("write", "read"):
            ops = [Write(0x40000 + 64 * n | CBIT, PLAIN, asid=1) if kind == "write"
                   else Read(0x40000 + 64 * n | CBIT, 4, asid=1) for n in range(32)]
            start = machine.cycles
            await machine.issue(ops)
            cycles[f"32 C=1 {kind}s, bytes/cycle"] = round(32 * 64 / (machine.cycles - start), 3)
        return cycles

    small = on("amaranth", scenario, SMALL)[0]
    standard = on("amaranth", scenario, COMPACT)[0]
    for name in small:
        print(f"{name:32} small {small[name]:>7}   standard compact {standard[name]:>7}")
    assert small["read C=0, 4 beats"] <= SMALL.memory_latency + 8
    assert small["read C=1, 4 beats"] <= small["read C=0, 4 beats"] + 4 * (10 + 3)
    assert small["write C=1, 4 partial beats"] < 4 * (2 * SMALL.memory_latency + 40)
    assert small["32 C=1 writes, bytes/cycle"] > 0.5 and small["32 C=1 reads, bytes/cycle"] > 0.5
