"""The XTS engines and key store (rtl/xts/) in Amaranth's simulator, against IEEE 1619, NIST CAVP
XTSGenAES and the golden model. Testplan: ``rtl/xts/README.md``.
"""

import random

import pytest
from amaranth.sim import Simulator

from sevlab.rtl.xts import XTSCore
from sevlab.sim.engines import XTSJob, run_xts_amaranth, run_xts_model
from sevlab.sim.model import IEEE1619_VECTORS, XTS_TWEAK_FORMS, load_xts, xts_encrypt

ENGINES = ["pipelined", "compact"]
KEY_BITS = [128, 256]


def vector_jobs(vectors):
    return [XTSJob(v.key, v.tweak, v.ciphertext if v.decrypt else v.plaintext, v.decrypt)
            for v in vectors]


def check(vectors, results):
    assert len(results) == len(vectors), f"{len(results)} results for {len(vectors)} vectors"
    for vector, result in zip(vectors, results):
        expected = vector.plaintext if vector.decrypt else vector.ciphertext
        assert result == expected, f"{vector.source}: got {result.hex()}, expected {expected.hex()}"


def run_vectors(vectors, *, engine, key_bits, slots=16, **options):
    # Every NIST vector has its own key: run them in batches that fill the key store.
    results = []
    batch, keys = [], set()
    for vector in vectors + [None]:
        if vector is None or (vector.key not in keys and len(keys) == slots):
            results += run_xts_amaranth(vector_jobs(batch), engine=engine, key_bits=key_bits,
                                    slots=slots, **options).results
            batch, keys = [], set()
        if vector is not None:
            batch.append(vector)
            keys.add(vector.key)
    return results


def nist(key_bits, per_section=None):
    vectors = []
    for form in XTS_TWEAK_FORMS:
        loaded = load_xts(key_bits, form)
        if per_section is not None:
            loaded = ([v for v in loaded if not v.decrypt][:per_section]
                      + [v for v in loaded if v.decrypt][:per_section])
        vectors += loaded
    return vectors


@pytest.mark.parametrize("engine", ENGINES)
def test_ieee1619_vectors(engine):
    # Vector 1 has key1 == key2, which cryptography refuses; the RTL must not care.
    vectors = list(IEEE1619_VECTORS)
    jobs = vector_jobs(vectors) + [XTSJob(v.key, v.tweak, v.ciphertext, True) for v in vectors]
    results = run_xts_amaranth(jobs, engine=engine).results
    check(vectors, results[:len(vectors)])
    for vector, result in zip(vectors, results[len(vectors):]):
        assert result == vector.plaintext, f"{vector.source} decrypt: got {result.hex()}"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_nist_xts_sample(engine, key_bits):
    # Three vectors of each section of both XTSGenAES files (tweak forms) for this key size.
    vectors = nist(key_bits, per_section=3)
    assert len(vectors) == 12
    check(vectors, run_vectors(vectors, engine=engine, key_bits=key_bits, idle=0.2,
                               backpressure=0.2))


@pytest.mark.extended
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_nist_xts_full(engine, key_bits):
    vectors = nist(key_bits)
    # 600 whole-block vectors in each file (400 need ciphertext stealing, not modelled).
    assert len(vectors) == 1200
    check(vectors, run_vectors(vectors, engine=engine, key_bits=key_bits, slots=512))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key_bits", KEY_BITS)
def test_random_units_back_to_back(engine, key_bits):
    # Units of 1-8 blocks with keys and directions changing between units, stalls on both ends.
    rng = random.Random(f"xts-{engine}-{key_bits}")
    keys = [rng.randbytes(key_bits // 4) for _ in range(5)]
    jobs = [XTSJob(rng.choice(keys), rng.randbytes(16), rng.randbytes(16 * rng.randint(1, 8)),
                   rng.random() < 0.5) for _ in range(10)]
    run = run_xts_amaranth(jobs, engine=engine, key_bits=key_bits, idle=0.3, backpressure=0.3)
    expected = run_xts_model(jobs).results
    for n, (got, want) in enumerate(zip(run.results, expected)):
        assert got == want, f"unit {n}: got {got.hex()}, expected {want.hex()}"
    assert len(run.results) == len(jobs)


@pytest.mark.parametrize("engine", ENGINES)
def test_4096_byte_unit(engine):
    rng = random.Random(engine)
    jobs = [XTSJob(rng.randbytes(32), rng.randbytes(16), rng.randbytes(4096), decrypt)
            for decrypt in (False, True)]
    assert run_xts_amaranth(jobs, engine=engine).results == run_xts_model(jobs).results


def test_pipelined_takes_a_block_every_cycle_across_units():
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(3)]
    jobs = [XTSJob(keys[n % 3], rng.randbytes(16), rng.randbytes(16 * (1 + n % 4)), n % 2 == 1)
            for n in range(16)]
    run = run_xts_amaranth(jobs, engine="pipelined")
    assert run.results == run_xts_model(jobs).results
    assert run.latency == 22, f"latency {run.latency}, expected 2 * Nr + 2 = 22"
    assert run.output_span == run.blocks, \
        f"{run.blocks} blocks left over {run.output_span} cycles, expected one a cycle"


@pytest.mark.parametrize("engine", ENGINES)
def test_rewriting_a_slot_mid_unit_never_mixes_keys(engine):
    # A unit in flight keeps the key it started with; the next unit gets the new one.
    rng = random.Random(engine)
    old_key, new_key = rng.randbytes(32), rng.randbytes(32)
    tweak = rng.randbytes(16)
    plaintext = rng.randbytes(16 * 24)
    dut = XTSCore(engine=engine, slots=2)
    results = []

    async def install(ctx, key):
        ctx.set(dut.i_install.payload, {"slot": 1, "key1": int.from_bytes(key[:16], "little"),
                                        "key2": int.from_bytes(key[16:], "little")})
        ctx.set(dut.i_install.valid, 1)
        await ctx.tick().until(dut.i_install.ready)
        ctx.set(dut.i_install.valid, 0)
        await ctx.tick().until(dut.i_install.ready)

    async def send_unit(ctx, on_first_beat=None):
        for n in range(0, len(plaintext), 16):
            ctx.set(dut.i.payload, {"data": int.from_bytes(plaintext[n:n + 16], "little"),
                                    "tweak": int.from_bytes(tweak, "little"), "first": n == 0,
                                    "last": n == len(plaintext) - 16, "key_sel": 1})
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            if n == 16 and on_first_beat:
                on_first_beat()
        ctx.set(dut.i.valid, 0)

    rewritten = {}

    async def producer(ctx):
        await install(ctx, old_key)
        await send_unit(ctx, on_first_beat=lambda: rewritten.setdefault("go", True))
        while "done" not in rewritten:
            await ctx.tick()
        await send_unit(ctx)

    async def rewriter(ctx):
        while "go" not in rewritten:
            await ctx.tick()
        await install(ctx, new_key)
        rewritten["done"] = True

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(5000):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                results.append(int(payload.data).to_bytes(16, "little"))
            if len(results) == 2 * len(plaintext) // 16:
                return
        raise TimeoutError("results missing")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(rewriter)
    sim.add_testbench(consumer)
    sim.run()
    half = len(plaintext) // 16
    first, second = b"".join(results[:half]), b"".join(results[half:])
    assert first == xts_encrypt(old_key, tweak, plaintext), "unit in flight changed key"
    assert second == xts_encrypt(new_key, tweak, plaintext), "next unit did not get the new key"


def test_bad_parameters_are_named(half_built_components):
    with pytest.raises(ValueError, match="sideways"):
        XTSCore(engine="sideways")
    with pytest.raises(ValueError, match="0"):
        XTSCore(slots=0)
    with pytest.raises(ValueError, match="17 distinct keys"):
        run_xts_amaranth([XTSJob(bytes([n]) * 32, bytes(16), bytes(16)) for n in range(17)])
    with pytest.raises(ValueError, match="64-byte key pair"):
        run_xts_amaranth([XTSJob(bytes(32), bytes(16), bytes(16))], key_bits=256)
