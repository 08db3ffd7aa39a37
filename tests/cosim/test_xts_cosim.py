"""The XTS core's generated Verilog under cocotb: Icarus in the quick tier, Verilator extended.

The cocotb side is ``sevlab.sim.cosim.xts``; results are compared here with the golden model.
"""

import random

import pytest

from sevlab.sim.cosim.xts import run_xts_cocotb
from sevlab.sim.engines import XTSJob, run_xts_model
from sevlab.sim.model import IEEE1619_VECTORS, load_xts


def random_jobs(seed, key_bits, units=8):
    rng = random.Random(seed)
    keys = [rng.randbytes(key_bits // 4) for _ in range(3)]
    return [XTSJob(rng.choice(keys), rng.randbytes(16), rng.randbytes(16 * rng.randint(1, 6)),
                   rng.random() < 0.5) for _ in range(units)]


def check(jobs, run):
    expected = run_xts_model(jobs).results
    assert len(run.results) == len(jobs)
    for n, (got, want) in enumerate(zip(run.results, expected)):
        assert got == want, f"unit {n}: got {got.hex()}, expected {want.hex()}"


def vector_jobs(vectors):
    return [XTSJob(v.key, v.tweak, v.ciphertext if v.decrypt else v.plaintext, v.decrypt)
            for v in vectors]


@pytest.mark.parametrize("engine", ["pipelined", "compact"])
def test_icarus_ieee1619_and_random_units_with_stalls(engine, tmp_path_factory):
    build_dir = tmp_path_factory.getbasetemp() / "cosim-xts"
    build_dir.mkdir(exist_ok=True)
    jobs = vector_jobs(IEEE1619_VECTORS) + random_jobs(engine, 128)
    run = run_xts_cocotb(jobs, engine=engine, simulator="icarus", idle=0.3, backpressure=0.3,
                         build_dir=build_dir)
    check(jobs, run)


def test_icarus_pipelined_takes_a_block_every_cycle(tmp_path_factory):
    build_dir = tmp_path_factory.getbasetemp() / "cosim-xts"
    build_dir.mkdir(exist_ok=True)
    jobs = random_jobs("rate", 128, units=12)
    run = run_xts_cocotb(jobs, engine="pipelined", simulator="icarus", build_dir=build_dir)
    check(jobs, run)
    assert run.output_span == run.blocks, f"{run.blocks} blocks over {run.output_span} cycles"


@pytest.mark.extended
@pytest.mark.parametrize("engine", ["pipelined", "compact"])
@pytest.mark.parametrize("key_bits", [128, 256])
def test_verilator_nist_sample_and_random_units(engine, key_bits, tmp_path_factory):
    build_dir = tmp_path_factory.getbasetemp() / "cosim-xts"
    build_dir.mkdir(exist_ok=True)
    vectors = [v for form in ("128hexstr", "dataunitseqno") for v in load_xts(key_bits, form)[::50]]
    jobs = vector_jobs(vectors) + random_jobs(f"{engine}{key_bits}", key_bits)
    run = run_xts_cocotb(jobs, key_bits=key_bits, engine=engine, simulator="verilator",
                         slots=64, idle=0.2, backpressure=0.2, build_dir=build_dir)
    check(jobs, run)
