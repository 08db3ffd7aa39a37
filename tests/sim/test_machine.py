"""The machine API (sim/machine): byte-range helpers, argument checks, and one seeded scenario
that must leave byte-identical DRAM on every backend."""

import pytest

from sevlab.sim.cosim import require_simulator
from sevlab.sim.machine import BusError, MachineConfig, Read, Write, make_machine, run
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic

CBIT = 1 << 47


def test_byte_ranges_split_into_line_bursts_with_strobes():
    async def scenario(machine):
        await machine.write(0x1003, bytes(range(1, 130)))              # 3 lines, ragged ends
        return await machine.read(0x1000, 192), await machine.read(0x1041, 5)

    for backend in ("model", "amaranth"):
        whole, middle = run(scenario, backend=backend, config=MachineConfig(engine="compact", cache_bytes=0))[0]
        assert whole == bytes(3) + bytes(range(1, 130)) + bytes(192 - 132), backend
        assert middle == bytes(range(0x3F, 0x44)), backend


@pytest.mark.parametrize("op, message", [
    (Read(0x1008), "16-byte aligned"),
    (Read(0x1020, 3), "1..4 beats inside one 64-byte line"),
    (Write(0x1000, bytes(80)), "1..4 beats inside one 64-byte line"),
    (Write(0x1000, bytes(20)), "whole 16-byte beats"),
    (Read(0x1000, asid=16), "ASID must be in 0..15"),
    (Read(0x1000, port="dma"), "port must be one of"),
    (Read(1 << 48), "does not fit 48 bits"),
])
def test_operations_the_bus_cannot_carry_raise_value_error(op, message):
    machine = make_machine("model")
    with pytest.raises(ValueError, match=message):
        machine.start([Read(0x0), op])
    assert machine.unit.counters["LINES_BYPASSED"] == 0, "nothing of a refused batch ran"


@pytest.mark.parametrize("convenience", ["write_line", "read_line"])
def test_a_refused_operation_raises_bus_error_from_the_conveniences(convenience):
    async def scenario(machine):
        if convenience == "write_line":
            await machine.write_line(0x2000 | CBIT, bytes(64), asid=3)
        else:
            await machine.read_line(0x2000 | CBIT, asid=3)

    # Without a cache (with one, a whole-line write is taken by the cache, which needs no fill:
    # the refusal comes at write-back, rtl/cache/README.md).
    machine = make_machine("model", MachineConfig(cache_bytes=0))
    machine.unit.sme_enable = True
    with pytest.raises(BusError, match="refused by the unit"):
        machine.run(scenario)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of model, amaranth, icarus, verilator"):
        make_machine("qemu")


@pytest.mark.extended
@pytest.mark.parametrize("system", ["unit", "cache"])
def test_seeded_scenario_is_byte_identical_on_every_backend(system, tmp_path_factory):
    """One seeded scenario on model, Amaranth, Icarus and Verilator: the same result for every
    operation, the same DRAM bytes, the same counters. ``unit``: 10,000 operations on the bare
    pipelined unit; ``cache``: 4,000 through the default 8 KiB cache (compact unit, for time),
    with CLFLUSH and WBINVD between batches."""
    if system == "unit":
        plan = TrafficPlan(transactions=10_000, batch=32, lines=256, seed=2026)
        config = MachineConfig(engine="pipelined", cache_bytes=0)
    else:
        plan = TrafficPlan(transactions=4_000, batch=16, lines=256, seed=2027)
        config = MachineConfig(engine="compact")

    async def scenario(machine):
        return await run_traffic(machine, plan)

    reference, _ = run(scenario, backend="model", config=config)
    assert len(reference.results) == plan.transactions
    build_dir = tmp_path_factory.mktemp("cross-backend")
    for backend in ("amaranth", "icarus", "verilator"):
        options = {} if backend == "amaranth" else {"build_dir": build_dir, "quiet": True}
        if backend != "amaranth":
            require_simulator(backend)
        got, _ = run(scenario, backend=backend, config=config, **options)
        mismatched = [n for n, (a, b) in enumerate(zip(reference.results, got.results)) if a != b]
        assert not mismatched, f"{backend}: operations {mismatched[:10]} differ from the model"
        differing = [hex(a) for a in reference.dram if reference.dram[a] != got.dram[a]]
        assert not differing, f"{backend}: DRAM lines {differing[:10]} differ from the model"
        assert got.counters == reference.counters, backend
