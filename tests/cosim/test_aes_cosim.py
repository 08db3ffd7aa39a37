"""Co-simulation of the AES engines' generated Verilog on Icarus and Verilator, checked against the
golden model by the cocotb tests in ``cocotb_aes.py``. Icarus runs a representative set in the
default tier; every Verilator build takes tens of seconds, so Verilator runs (with the full AESAVS
files) are marked ``extended``. See ``sim/cosim/README.md``.
"""

__all__ = []

import pathlib
import time

import pytest
from sevlab.sim.cosim import require_simulator, run_cocotb
from sevlab.sim.cosim.aes import aes_engine, export_aes_engine, measure_aes_throughput

COCOTB_MODULE = pathlib.Path(__file__).with_name("cocotb_aes.py")

# Without stalls, then 30 % idle cycles on the input and 30 % backpressure on the output.
STALLS = [[None, None], [0.3, 0.3]]

ENGINES = [
    pytest.param(("pipelined", "both"), id="pipelined-both"),
    pytest.param(("compact", "both"), id="compact"),
    pytest.param(("narrow", "both"), id="narrow"),
]
KEY_BITS = [128, 256]
SIMULATORS = [
    pytest.param("icarus", id="icarus"),
    pytest.param("verilator", id="verilator", marks=pytest.mark.extended),
]

# Icarus: FIPS-197, the first 8 vectors of each section of each AESAVS file, 50 random blocks.
QUICK_VECTORS = {"fips197": True, "aesavs": "sample", "aesavs_sample": 8, "random": 50}
# Verilator: FIPS-197, every AESAVS vector for the key size, 200 random blocks.
FULL_VECTORS = {"fips197": True, "aesavs": "full", "random": 200}


@pytest.fixture(scope="session")
def cosim_dir(tmp_path_factory):
    """One build directory per session: each design is exported and built once for all its tests."""
    return tmp_path_factory.mktemp("cosim")


def _simulator(simulator):
    # Fails (never skips) with an install hint when the simulator is missing.
    require_simulator(simulator)
    return simulator


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("key_bits", KEY_BITS)
@pytest.mark.parametrize("engine", ENGINES)
def test_aes_matches_model(engine, key_bits, simulator, cosim_dir, record_property):
    engine, direction = engine
    _simulator(simulator)
    started = time.perf_counter()
    verilog = export_aes_engine(engine=engine, key_bits=key_bits, direction=direction,
                                build_dir=cosim_dir)
    exported = time.perf_counter()
    vectors = FULL_VECTORS if simulator == "verilator" else QUICK_VECTORS
    result = run_cocotb(
        verilog=verilog,
        test_module=COCOTB_MODULE,
        simulator=simulator,
        build_dir=cosim_dir,
        testbench_params={"engine": engine, "key_bits": key_bits, "direction": direction,
                          "stalls": STALLS, **vectors},
        timeout_seconds=1200,
    )
    assert result.tests == len(STALLS), f"ran {result.tests} cocotb tests, expected {len(STALLS)}"
    timings = {"export_seconds": exported - started, "build_seconds": result.build_seconds,
               "test_seconds": result.test_seconds}
    for name, value in timings.items():
        record_property(name, round(value, 2))
    print(f"{simulator} {engine} AES-{key_bits}: "
          + ", ".join(f"{name} {value:.1f}" for name, value in timings.items()))


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("engine", ["pipelined", "compact"])
def test_aes_throughput(engine, simulator, cosim_dir, record_property):
    """Back-to-back blocks: one per cycle (pipelined) or one per Nr cycles (compact), plus latency.

    Also exercises `measure_aes_throughput`, the function the benchmarks call.
    """
    _simulator(simulator)
    blocks = 2000 if simulator == "verilator" else 64
    numbers = measure_aes_throughput(engine=engine, key_bits=128, direction="both",
                                     simulator=simulator, blocks=blocks, build_dir=cosim_dir)
    component = aes_engine(engine=engine, key_bits=128, direction="both", describe_only=True)
    interval = getattr(component, "interval", 1)
    # From the first block offered to the last block taken: blocks * interval + latency, and a
    # cycle or two of handshake alignment.
    bound = blocks * interval + component.latency + 3
    assert numbers["blocks"] == blocks
    assert numbers["cycles"] <= bound, (
        f"{blocks} blocks took {numbers['cycles']} cycles, expected at most {bound} "
        f"(interval {interval}, latency {component.latency})"
    )
    for name in ("cycles", "seconds", "blocks_per_cycle", "cycles_per_second"):
        record_property(name, round(numbers[name], 3))
    print(f"{simulator} {engine} AES-128 throughput: {numbers['blocks']} blocks in "
          f"{numbers['cycles']} cycles, {numbers['seconds']:.2f} s, "
          f"{numbers['cycles_per_second']:.0f} cycles/s")


def test_aes_verbatim_verilog(cosim_dir):
    """The other tests simulate `with_memory_files` of the Verilog; this one Amaranth's text as is."""
    _simulator("icarus")
    verilog = export_aes_engine(engine="compact", key_bits=128, build_dir=cosim_dir)
    result = run_cocotb(
        verilog=verilog,
        memory_files=False,
        test_module=COCOTB_MODULE,
        simulator="icarus",
        build_dir=cosim_dir,
        testbench_params={"engine": "compact", "key_bits": 128, "direction": "both",
                          "stalls": STALLS, "fips197": True, "random": 8},
        timeout_seconds=600,
    )
    assert "memfiles" not in result.sim_build.name
    assert result.tests == len(STALLS)
