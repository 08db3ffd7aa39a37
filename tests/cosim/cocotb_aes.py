"""cocotb tests of the AES engines' Verilog against the golden model (`sevlab.sim.model`).

Loaded by `sevlab.sim.cosim.run_cocotb` from ``test_aes_cosim.py``, never collected by pytest
(its name does not match ``test_*.py``). Parameters come as JSON through `testbench_params`:

``engine``      "pipelined" or "compact" (`sevlab.sim.cosim.aes.aes_engine`)
``key_bits``    128 or 256
``direction``   the engine's direction: "encrypt", "decrypt" or "both"
``fips197``     include the FIPS-197 Appendix C examples for the key size (default true)
``aesavs``      null, "sample" (the first ``aesavs_sample`` vectors of each section of each AESAVS
                file for the key size) or "full" (every vector of those files)
``aesavs_sample``  default 8
``random``      how many random blocks (random keys, directions the engine supports)
``stalls``      list of ``[idle, backpressure]`` pairs (see `sevlab.sim.cosim.stall_pattern`);
                one cocotb test per pair; default: none, and 30 % random on both sides
``seed``        for the random blocks (cocotb's own seed drives the stall patterns)

Every output beat is compared with the golden model's block and with the request's tag (a
sequence number), every expected beat must arrive within a cycle budget and all queues must be
empty at the end. See ``sim/cosim/README.md``.
"""

__all__ = []

import random

import cocotb
from cocotb import Param
from sevlab.sim.cosim import TB, describe_stall_pattern, testbench_params
from sevlab.sim.cosim.aes import TAG_BITS, aes_beats, aes_engine
from sevlab.sim.model import AESAVS_FILES, FIPS197_EXAMPLES, load_aesavs

PARAMS = testbench_params()
DEFAULT_STALLS = [[None, None], [0.3, 0.3]]


def _stall_params():
    pairs = PARAMS.get("stalls", DEFAULT_STALLS)
    return [
        Param(list(pair), f"{describe_stall_pattern(pair[0])}_{describe_stall_pattern(pair[1])}")
        for pair in pairs
    ]


def _directions(direction):
    return {"encrypt": (False,), "decrypt": (True,), "both": (False, True)}[direction]


def _vectors(key_bits, direction):
    """Yield ``(key, input block, decrypt, label)`` for the configured vector sets."""
    allowed = _directions(direction)
    key_bytes = key_bits // 8
    if PARAMS.get("fips197", True):
        for vector in FIPS197_EXAMPLES:
            if len(vector.key) == key_bytes and vector.decrypt in allowed:
                yield _known_answer(vector)
    aesavs = PARAMS.get("aesavs")
    if aesavs not in (None, "sample", "full"):
        raise ValueError(f"aesavs must be null, 'sample' or 'full', not {aesavs!r}")
    if aesavs:
        sample = PARAMS.get("aesavs_sample", 8)
        for name in AESAVS_FILES:
            if not name.endswith(str(key_bits)):
                continue
            taken = {False: 0, True: 0}
            for vector in load_aesavs(name):
                if vector.decrypt not in allowed:
                    continue
                if aesavs == "sample" and taken[vector.decrypt] >= sample:
                    continue
                taken[vector.decrypt] += 1
                yield _known_answer(vector)
    rng = random.Random(PARAMS.get("seed", 2024))
    for index in range(PARAMS.get("random", 0)):
        decrypt = rng.choice(allowed)
        yield (rng.randbytes(key_bytes), rng.randbytes(16), decrypt,
               f"random #{index} ({'decrypt' if decrypt else 'encrypt'})")


def _known_answer(vector):
    block = vector.ciphertext if vector.decrypt else vector.plaintext
    return vector.key, block, vector.decrypt, vector.source


@cocotb.test()
@cocotb.parametrize(stalls=_stall_params())
async def aes_matches_model(dut, stalls):
    """Known-answer and random blocks, in order, with the given idle/backpressure pattern."""
    engine, key_bits = PARAMS["engine"], PARAMS["key_bits"]
    direction = PARAMS.get("direction", "both")
    component = aes_engine(engine=engine, key_bits=key_bits, direction=direction, describe_only=True)
    has_decrypt = "decrypt" in dict(iter(component.i.payload.shape()))
    idle, backpressure = stalls
    tb = TB(dut, component, idle=idle, backpressure=backpressure)
    await tb.start()

    count = 0
    for key, block, decrypt, label in _vectors(key_bits, direction):
        request, response = aes_beats(has_decrypt, key=key, block=block, decrypt=decrypt,
                                      tag=count % (1 << TAG_BITS))
        tb.send(request, response, label=label)
        count += 1
    assert count > 0, "the parameters select no vectors"

    # A block occupies the engine for `interval` cycles; stalls on either side at most
    # quadruple that at 30 %, so 8x plus the latency is a generous but finite bound.
    interval = getattr(component, "interval", 1)
    budget = 8 * count * interval + 4 * component.latency + 100
    checked = await tb.finish(timeout_cycles=budget)
    assert checked == count, f"checked {checked} beats, expected {count}"
    dut._log.info("%d blocks matched the golden model in %d cycles", checked, tb.cycle)
