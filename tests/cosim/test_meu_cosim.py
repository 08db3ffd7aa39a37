"""The unit's Verilog under cocotb with cocotbext-axi (AxiMaster on the host and privileged
ports, AxiRam as DRAM), through the machine API: Icarus in the quick tier, Verilator extended.
The cocotb side is ``sevlab.sim.cosim.machine``; results are compared here with the golden model.
"""

import pathlib

import pytest

from sevlab.sim.cosim import require_simulator, run_cocotb
from sevlab.sim.cosim.export import export_verilog
from sevlab.sim.cosim.machine import strobe_runs, system_from_params
from sevlab.sim.machine import MachineConfig, run
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic

COCOTB_MODULE = pathlib.Path(__file__).with_name("cocotb_meu.py")


@pytest.fixture(scope="module")
def cosim_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("meu-cosim")


def traffic(backend, config, plan, **options):
    async def scenario(machine):
        return await run_traffic(machine, plan)
    result, _ = run(scenario, backend=backend, config=config, **options)
    return result


def check_against_model(config, plan, got):
    expected = traffic("model", config, plan)
    for n, (want, have) in enumerate(zip(expected.results, got.results)):
        assert have == want, f"operation {n}: got {have!r}, expected {want!r}"
    assert len(got.results) == plan.transactions
    assert got.dram == expected.dram
    assert got.counters == expected.counters


@pytest.mark.parametrize("simulator", [
    "icarus", pytest.param("verilator", marks=pytest.mark.extended)])
@pytest.mark.parametrize("unit, engine", [("standard", "pipelined"), ("standard", "compact"), ("small", "narrow")])
def test_random_traffic_matches_the_model(unit, engine, simulator, cosim_dir):
    require_simulator(simulator)
    config = MachineConfig(engine=engine, cache_bytes=0, unit=unit)
    plan = TrafficPlan(transactions=80 if simulator == "icarus" else 600, seed=31)
    got = traffic(simulator, config, plan, build_dir=cosim_dir, quiet=True)
    check_against_model(config, plan, got)


@pytest.mark.parametrize("cache_bytes", [0, 8192])
def test_refused_bursts(cache_bytes, cosim_dir):
    """The unit refuses them (and counts them); with a cache in front, the cache does."""
    require_simulator("icarus")
    params = {"cache_bytes": cache_bytes, "cache_ways": 4, "key_bits": 128, "slots": 16,
              "engine": "compact", "unit": "standard", "address_width": 48, "cbit_position": 47, "min_sev_asid": 1}
    verilog = export_verilog(system_from_params(params), build_dir=cosim_dir,
                             name=f"memsys_refused_bursts_{cache_bytes}")
    run_cocotb(verilog=verilog, test_module=COCOTB_MODULE, testcase="refused_bursts",
               simulator="icarus", build_dir=cosim_dir, testbench_params=params)


def test_strobe_runs():
    assert strobe_runs(0b0111_0110, 8) == [(1, 3), (4, 7)]
    assert strobe_runs(0xFFFF, 16) == [(0, 16)]
    assert strobe_runs(0, 16) == []
