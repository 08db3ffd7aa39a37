"""The memory system's Verilog (cache in front of the unit) under cocotb, through the machine API:
the coherency demonstrations and random traffic with cache maintenance, against the golden model.
Icarus in the quick tier, Verilator extended."""

import pytest

from sevlab.sim import coherency
from sevlab.sim.cosim import require_simulator
from sevlab.sim.machine import MachineConfig, run
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic

SIMULATORS = ["icarus", pytest.param("verilator", marks=pytest.mark.extended)]
CONFIG = MachineConfig(engine="compact")


@pytest.fixture(scope="module")
def cosim_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache-cosim")


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_coherency_demonstrations(simulator, cosim_dir):
    """All three demonstrations in one simulation: every claim holds, and the simulator saw
    what the golden model sees."""
    require_simulator(simulator)

    async def scenario(machine):
        return {name: await demonstration(machine) for name, demonstration in coherency.DEMONSTRATIONS.items()}

    got, _ = run(scenario, backend=simulator, config=CONFIG, build_dir=cosim_dir, quiet=True)
    expected, _ = run(scenario, backend="model", config=CONFIG)
    for name in coherency.DEMONSTRATIONS:
        failed = [claim for claim, held in coherency.claims(name, got[name]) if not held]
        assert not failed, f"{simulator}, {name}: {failed}"
        assert got[name] == expected[name], f"{simulator}, {name}: differs from the golden model"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_traffic_with_maintenance_matches_the_model(simulator, cosim_dir):
    require_simulator(simulator)
    config = MachineConfig(engine="compact", cache_bytes=1024, cache_ways=2)
    plan = TrafficPlan(transactions=80 if simulator == "icarus" else 600, seed=41, batch=8,
                       lines=64, maintenance=0.4)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    got, _ = run(scenario, backend=simulator, config=config, build_dir=cosim_dir, quiet=True)
    expected, _ = run(scenario, backend="model", config=config)
    assert len(got.results) == plan.transactions
    for n, (want, have) in enumerate(zip(expected.results, got.results)):
        assert have == want, f"operation {n}: got {have!r}, expected {want!r}"
    assert got.dram == expected.dram
    assert got.counters == expected.counters
