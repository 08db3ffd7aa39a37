"""The AES engines (rtl/aes/) in Amaranth's simulator, against NIST vectors and the golden model.

Testplan: ``rtl/aes/README.md``.
"""

import random

import pytest

from amaranth.sim import Simulator

from sevlab.rtl.aes import AESCompact, AESNarrow, AESPipelined
from sevlab.rtl.aes.expander import AESKeyExpander
from sevlab.sim.engines import AESJob, run_aes_amaranth, run_aes_model
from sevlab.sim.model import AESAVS_FILES, FIPS197_EXAMPLES, aes_decryption_key, aes_round_keys, load_aesavs
from sevlab.sim.streams import run_stream

ENGINES = ["pipelined", "compact", "narrow"]
KEY_BITS = [128, 256]
# The narrow engine's cycles a block: six a round and two more; AES-256 turns its key window
# for four cycles first (when the engine can decrypt).
NARROW_CYCLES = {128: 6 * 10 + 2, 256: 6 * 14 + 2 + 4}


def vector_jobs(vectors):
    return [AESJob(v.key, v.ciphertext if v.decrypt else v.plaintext, v.decrypt) for v in vectors]


def check(vectors, results):
    assert len(results) == len(vectors), f"{len(results)} results for {len(vectors)} vectors"
    for vector, result in zip(vectors, results):
        expected = vector.plaintext if vector.decrypt else vector.ciphertext
        assert result == expected, f"{vector.source}: got {result.hex()}, expected {expected.hex()}"


def aesavs(key_bits, per_section=None):
    vectors = []
    for name in AESAVS_FILES:
        if name.endswith(str(key_bits)):
            loaded = load_aesavs(name)
            if per_section is not None:
                loaded = ([v for v in loaded if not v.decrypt][:per_section]
                          + [v for v in loaded if v.decrypt][:per_section])
            vectors += loaded
    return vectors


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_fips197_examples(engine, key_bits):
    vectors = [v for v in FIPS197_EXAMPLES if len(v.key) * 8 == key_bits]
    assert len(vectors) == 2, "FIPS-197 gives one example per key size, both directions"
    results, _ = run_aes_amaranth(vector_jobs(vectors), engine=engine, key_bits=key_bits)
    check(vectors, results)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_aesavs_sample(engine, key_bits):
    # The first four vectors of each section of the four AESAVS files of this key size.
    vectors = aesavs(key_bits, per_section=4)
    assert len(vectors) == 32
    results, _ = run_aes_amaranth(vector_jobs(vectors), engine=engine, key_bits=key_bits,
                                  idle=0.2, backpressure=0.2, seed=key_bits)
    check(vectors, results)


@pytest.mark.extended
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_aesavs_full(engine, key_bits):
    vectors = aesavs(key_bits)
    # COUNT lines in the four files (GFSbox, KeySbox, VarKey, VarTxt), both sections.
    assert len(vectors) == {128: 14 + 42 + 256 + 256, 256: 10 + 32 + 512 + 256}[key_bits]
    results, _ = run_aes_amaranth(vector_jobs(vectors), engine=engine, key_bits=key_bits)
    check(vectors, results)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_random_blocks_with_stalls_and_key_changes(engine, key_bits):
    # Every block has its own key and direction, and both ends stall at random.
    rng = random.Random(f"aes-{engine}-{key_bits}")
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), rng.random() < 0.5)
            for _ in range(48)]
    results, _ = run_aes_amaranth(jobs, engine=engine, key_bits=key_bits, idle=0.3,
                                  backpressure=0.3, seed=1)
    expected = run_aes_model(jobs)
    for n, (got, want) in enumerate(zip(results, expected)):
        assert got == want, f"block {n} ({jobs[n]}): got {got.hex()}, expected {want.hex()}"
    assert len(results) == len(jobs)


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_one_direction_pipelines(direction):
    rng = random.Random(direction)
    jobs = [AESJob(rng.randbytes(16), rng.randbytes(16), direction == "decrypt")
            for _ in range(24)]
    results, _ = run_aes_amaranth(jobs, engine=f"pipelined-{direction}", backpressure=0.3)
    assert results == run_aes_model(jobs)


def run_slotted_pipeline(direction, key_bits, schedules, jobs, *, clear=(), **stream_options):
    """``jobs`` of ``(slot, block)`` through a pipeline with a key slot per entry of
    ``schedules`` (lists of Nr + 1 round keys), written into its tables round by round in a
    shuffled order, then the slots in ``clear`` cleared."""
    dut = AESPipelined(key_bits=key_bits, direction=direction, key_slots=len(schedules))
    writes = [(slot, r, rk) for slot, schedule in enumerate(schedules) for r, rk in enumerate(schedule)]
    random.Random(key_bits).shuffle(writes)

    async def setup(ctx):
        port = dut.round_keys
        ctx.set(port.en, 1)
        for slot, r, rk in writes:
            ctx.set(port.slot, slot)
            ctx.set(port.round, r)
            ctx.set(port.key, int.from_bytes(rk, "little"))
            await ctx.tick()
        ctx.set(port.clear, 1)
        for slot in clear:
            ctx.set(port.slot, slot)
            await ctx.tick()
        ctx.set(port.en, 0)

    requests = [{"slot": slot, "block": int.from_bytes(block, "little")} for slot, block in jobs]
    run = run_stream(dut, dut.i, dut.o, requests, setup=setup, max_cycles=500, **stream_options)
    return [int(out.block).to_bytes(16, "little") for out in run.outputs], run


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_pipelined_with_key_slots(direction, key_bits):
    # Four slots, blocks naming them at random, both ends stalling; cryptography's AES is the
    # oracle (run_aes_model), the tables hold the model's FIPS-197 key expansion.
    rng = random.Random(f"slots-{direction}-{key_bits}")
    keys = [rng.randbytes(key_bits // 8) for _ in range(4)]
    jobs = [(rng.randrange(4), rng.randbytes(16)) for _ in range(40)]
    results, _ = run_slotted_pipeline(direction, key_bits, [aes_round_keys(k) for k in keys], jobs,
                                      idle=0.2, backpressure=0.3, seed=3)
    expected = run_aes_model([AESJob(keys[slot], block, direction == "decrypt") for slot, block in jobs])
    assert len(results) == len(jobs)
    for n, (got, want) in enumerate(zip(results, expected)):
        assert got == want, f"block {n} (slot {jobs[n][0]}): got {got.hex()}, expected {want.hex()}"


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_pipelined_key_slots_clear_zeroes_every_round(direction):
    # Slots 0 and 1 get one key, slot 2 eleven zero round keys written one by one; clearing
    # slot 1 must make it slot 2, not slot 0 (nor anything between: a round left over).
    key = random.Random(direction).randbytes(16)
    zeros = [bytes(16)] * 11
    block = bytes(range(16))
    results, _ = run_slotted_pipeline(direction, 128, [aes_round_keys(key), aes_round_keys(key), zeros],
                                      [(0, block), (1, block), (2, block)], clear=[1])
    expected_keyed = run_aes_model([AESJob(key, block, direction == "decrypt")])[0]
    assert results[0] == expected_keyed
    assert results[1] == results[2] != expected_keyed


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_pipelined_takes_a_block_every_cycle(key_bits):
    rng = random.Random(key_bits)
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), n % 3 == 0)
            for n in range(64)]
    results, run = run_aes_amaranth(jobs, engine="pipelined", key_bits=key_bits)
    assert results == run_aes_model(jobs)
    rounds = {128: 10, 256: 14}[key_bits]
    assert run.latency == rounds, f"latency {run.latency} cycles, expected Nr = {rounds}"
    assert run.output_span == len(jobs), \
        f"{len(jobs)} blocks left over {run.output_span} cycles, expected one a cycle"


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_a_farm_encrypts_in_order_under_stalls(key_bits):
    rng = random.Random(f"farm-{key_bits}")
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16)) for _ in range(40)]
    results, _ = run_aes_amaranth(jobs, engine="farm-3", key_bits=key_bits, idle=0.3,
                                  backpressure=0.3, seed=2)
    assert results == run_aes_model(jobs)


@pytest.mark.parametrize("engines", [1, 3])
def test_a_farm_takes_nr_cycles_a_block_per_engine(engines):
    rng = random.Random(engines)
    jobs = [AESJob(rng.randbytes(16), rng.randbytes(16)) for _ in range(6 * engines)]
    results, run = run_aes_amaranth(jobs, engine=f"farm-{engines}")
    assert results == run_aes_model(jobs)
    assert run.latency == 10, f"latency {run.latency} cycles, expected Nr = 10"
    # Each engine takes a block as its previous result leaves: 6 blocks an engine, 10 cycles
    # each, the engines one cycle apart.
    assert run.cycles == 10 * 6 + engines, f"{len(jobs)} blocks took {run.cycles} cycles"


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_compact_takes_nr_cycles_a_block(key_bits):
    rng = random.Random(key_bits)
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), n % 2 == 0)
            for n in range(8)]
    results, run = run_aes_amaranth(jobs, engine="compact", key_bits=key_bits)
    assert results == run_aes_model(jobs)
    rounds = {128: 10, 256: 14}[key_bits]
    assert run.latency == rounds, f"latency {run.latency} cycles, expected Nr = {rounds}"
    # A new block goes in as the previous result comes out: the last result is taken
    # Nr * (blocks - 1) cycles after the first; ``cycles`` counts both ends.
    assert run.cycles == rounds * len(jobs) + 1, \
        f"{len(jobs)} blocks took {run.cycles} cycles, expected {rounds} each"


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_narrow_takes_its_interval_a_block(key_bits):
    rng = random.Random(f"narrow-{key_bits}")
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), n % 2 == 0)
            for n in range(6)]
    results, run = run_aes_amaranth(jobs, engine="narrow", key_bits=key_bits)
    assert results == run_aes_model(jobs)
    cycles = NARROW_CYCLES[key_bits]
    assert run.latency == cycles, f"latency {run.latency} cycles, expected {cycles}"
    # A new block goes in as the previous result comes out.
    assert run.cycles == cycles * len(jobs) + 1, \
        f"{len(jobs)} blocks took {run.cycles} cycles, expected {cycles} each"


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_narrow_encrypt_only(key_bits):
    rng = random.Random(f"narrow-encrypt-{key_bits}")
    keys = [rng.randbytes(key_bits // 8) for _ in range(10)]
    blocks = [rng.randbytes(16) for _ in keys]
    dut = AESNarrow(key_bits=key_bits, direction="encrypt")
    run = run_stream(dut, dut.i, dut.o,
                     [{"block": int.from_bytes(b, "little"), "key": int.from_bytes(k, "little")}
                      for k, b in zip(keys, blocks)],
                     idle=0.3, backpressure=0.3, seed=3, max_cycles=200 * len(keys))
    expected = run_aes_model([AESJob(k, b) for k, b in zip(keys, blocks)])
    for n, (out, want) in enumerate(zip(run.outputs, expected)):
        got = int(out.block).to_bytes(16, "little")
        assert got == want, f"block {n}: got {got.hex()}, expected {want.hex()}"
    assert len(run.outputs) == len(keys)
    # No key window to turn when the engine cannot decrypt.
    assert dut.latency == 6 * dut.rounds + 2


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_narrow_samples_the_request_only_when_taken(key_bits):
    # The caller may change (or drop) block, key, direction and tag as soon as a request is
    # taken: the engine copied them.
    rng = random.Random(f"narrow-sample-{key_bits}")
    jobs = [AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), n % 2 == 1) for n in range(4)]
    expected = run_aes_model(jobs)
    dut = AESNarrow(key_bits=key_bits, tag_shape=8)
    results = []

    async def testbench(ctx):
        for n, job in enumerate(jobs):
            key = aes_decryption_key(job.key) if job.decrypt else job.key
            ctx.set(dut.i.payload, {"block": int.from_bytes(job.block, "little"),
                                    "key": int.from_bytes(key, "little"),
                                    "decrypt": job.decrypt, "tag": n})
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.i.payload, {"block": rng.getrandbits(128), "key": rng.getrandbits(key_bits),
                                    "decrypt": not job.decrypt, "tag": 0xFF})
            ctx.set(dut.o.ready, 1)
            for _ in range(2 * dut.latency):
                _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                if valid:
                    results.append((int(payload.block).to_bytes(16, "little"), int(payload.tag)))
                    break
            ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert dut.latency == dut.interval == NARROW_CYCLES[key_bits], \
        f"latency {dut.latency}, interval {dut.interval}, measured {NARROW_CYCLES[key_bits]}"
    assert len(results) == len(jobs), f"{len(results)} results for {len(jobs)} blocks"
    for n, ((got, tag), want) in enumerate(zip(results, expected)):
        assert got == want, f"block {n} ({jobs[n]}): got {got.hex()}, expected {want.hex()}"
        assert tag == n, f"block {n}: tag {tag}"


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_expander_gives_the_decryption_start(key_bits):
    rng = random.Random(key_bits)
    keys = [rng.randbytes(key_bits // 8) for _ in range(6)]
    dut = AESKeyExpander(key_bits=key_bits)
    run = run_stream(dut, dut.i, dut.o, [{"key": int.from_bytes(k, "little")} for k in keys],
                     backpressure=0.3, max_cycles=500)
    for key, out in zip(keys, run.outputs):
        got = int(out.decryption_key).to_bytes(key_bits // 8, "little")
        assert got == aes_decryption_key(key), f"key {key.hex()}: got {got.hex()}"
    assert len(run.outputs) == len(keys)


@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_expander_shows_every_round_key_it_makes(key_bits):
    # The rounds it steps through, in order, each once while o is taken at once, against the
    # model's FIPS-197 expansion; AES-256's key itself is rounds 0 and 1.
    key = random.Random(f"steps-{key_bits}").randbytes(key_bits // 8)
    dut = AESKeyExpander(key_bits=key_bits)
    seen = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload.key, int.from_bytes(key, "little"))
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(20):
            _, _, stepping, r, rk = await ctx.tick().sample(dut.stepping, dut.round, dut.round_key)
            if stepping:
                seen.append((r, rk.to_bytes(16, "little")))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    schedule = aes_round_keys(key)
    first = 1 if key_bits == 128 else 2
    assert seen == [(r, schedule[r]) for r in range(first, len(schedule))]


def test_bad_parameters_are_named(half_built_components):
    with pytest.raises(ValueError, match="192"):
        AESPipelined(key_bits=192)
    with pytest.raises(ValueError, match="sideways"):
        AESPipelined(direction="sideways")
    with pytest.raises(ValueError, match="one direction"):
        AESPipelined(key_slots=4)
    with pytest.raises(ValueError, match="at least 2"):
        AESPipelined(direction="encrypt", key_slots=1)
    with pytest.raises(ValueError, match="64"):
        AESCompact(key_bits=64)
    with pytest.raises(ValueError, match="192"):
        AESNarrow(key_bits=192)
    with pytest.raises(ValueError, match="decrypt"):
        AESNarrow(direction="decrypt")
