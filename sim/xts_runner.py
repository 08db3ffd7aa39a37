"""Run XTS data units on the golden model or on the RTL in Amaranth's simulator.

The command line, the benchmarks and the RTL tests all go through here, so the way beats are
packed, keys installed and results collected exists once. See ``rtl/xts/README.md``.
"""

import random
from dataclasses import dataclass, field

from amaranth.sim import Simulator

from ..rtl.xts import XTSCore
from .model import xts_decrypt, xts_encrypt

__all__ = ["XTSJob", "XTSRun", "run_model", "run_amaranth", "assign_slots"]

_BLOCK = 16


@dataclass(frozen=True)
class XTSJob:
    """One data unit: ``key`` is key1‖key2, ``tweak`` the 16-byte tweak value."""
    key: bytes
    tweak: bytes
    data: bytes
    decrypt: bool = False


@dataclass
class XTSRun:
    """Results of a run, in job order, and what it cost in clock cycles.

    ``cycles`` runs from the first beat accepted to the last result taken; ``latency`` is the
    cycles from the first beat accepted to the first result offered.
    """
    results: list
    cycles: int = 0
    latency: int = 0
    blocks: int = 0
    install_cycles: list = field(default_factory=list)


def run_model(jobs):
    return XTSRun([(xts_decrypt if job.decrypt else xts_encrypt)(job.key, job.tweak, job.data)
                   for job in jobs], blocks=sum(len(job.data) // _BLOCK for job in jobs))


def assign_slots(jobs, slots):
    """Map each distinct key of ``jobs`` to a key-store slot, in order of first use.

    Raises
    ------
    ValueError
        More distinct keys than slots.
    """
    assignment = {}
    for job in jobs:
        if job.key not in assignment:
            assignment[job.key] = len(assignment)
    if len(assignment) > slots:
        raise ValueError(f"{len(assignment)} distinct keys do not fit {slots} key slots")
    return assignment


def _beats(jobs, assignment):
    for job in jobs:
        blocks = [job.data[n:n + _BLOCK] for n in range(0, len(job.data), _BLOCK)]
        for index, block in enumerate(blocks):
            yield {
                "data": int.from_bytes(block, "little"),
                "tweak": int.from_bytes(job.tweak, "little"),
                "first": index == 0,
                "last": index == len(blocks) - 1,
                "decrypt": job.decrypt,
                "key_sel": assignment[job.key],
            }


def run_amaranth(jobs, *, key_bits=128, engine="pipelined", slots=16, idle=0.0,
                 backpressure=0.0, seed=0, max_cycles=None):
    """Transform ``jobs`` on :class:`~sevlab.rtl.xts.XTSCore` in Amaranth's simulator.

    Every distinct key is installed first; then all units stream back to back, so units with
    different keys and directions follow each other with no gap. ``idle`` and ``backpressure``
    are the probabilities of a cycle with the input not valid and the output not ready.

    Raises
    ------
    ValueError
        A key of the wrong length, or more distinct keys than ``slots``.
    TimeoutError
        The run did not finish within ``max_cycles`` (default: generous for the work given).
    """
    for job in jobs:
        if len(job.key) != 2 * key_bits // 8:
            raise ValueError(f"XTS-AES-{key_bits} needs a {key_bits // 4}-byte key pair, "
                             f"not {len(job.key)} bytes")
    assignment = assign_slots(jobs, slots)
    beats = list(_beats(jobs, assignment))
    dut = XTSCore(key_bits=key_bits, engine=engine, slots=slots)
    rng = random.Random(seed)
    half = key_bits // 8
    if max_cycles is None:
        max_cycles = 100 + 40 * len(assignment) + int(
            (len(beats) + 4 * len(jobs)) * 20 / (1 - max(idle, backpressure)))

    received = []
    run = XTSRun(results=[])
    clock = {"cycle": 0, "first_in": None, "first_out": None, "last_out": None}

    async def counter(ctx):
        async for _ in ctx.tick():
            clock["cycle"] += 1

    async def producer(ctx):
        for key, slot in assignment.items():
            ctx.set(dut.i_install.payload, {
                "slot": slot,
                "key1": int.from_bytes(key[:half], "little"),
                "key2": int.from_bytes(key[half:], "little"),
            })
            ctx.set(dut.i_install.valid, 1)
            start = clock["cycle"]
            await ctx.tick().until(dut.i_install.ready)
            ctx.set(dut.i_install.valid, 0)
            run.install_cycles.append(clock["cycle"] - start)
        # Let the last install reach the store before data uses it.
        await ctx.tick().repeat(20)
        for beat in beats:
            while idle and rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.i.payload, beat)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            if clock["first_in"] is None:
                clock["first_in"] = clock["cycle"]
            ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        while len(received) < len(beats):
            if clock["cycle"] > max_cycles:
                raise TimeoutError(f"XTS run still waiting for {len(beats) - len(received)} of "
                                   f"{len(beats)} results after {max_cycles} cycles")
            ready = not (backpressure and rng.random() < backpressure)
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and clock["first_out"] is None and clock["first_in"] is not None:
                clock["first_out"] = clock["cycle"]
            if valid and ready:
                received.append((payload.data, payload.first, payload.last))
                clock["last_out"] = clock["cycle"]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(counter)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()

    offset = 0
    for job in jobs:
        count = len(job.data) // _BLOCK
        unit = received[offset:offset + count]
        markers = [(first, last) for _, first, last in unit]
        expected = [(n == 0, n == count - 1) for n in range(count)]
        if markers != expected:
            raise AssertionError(f"unit markers {markers} != {expected}")
        run.results.append(b"".join(int(data).to_bytes(_BLOCK, "little") for data, _, _ in unit))
        offset += count
    run.blocks = len(beats)
    run.cycles = clock["last_out"] - clock["first_in"] + 1
    run.latency = clock["first_out"] - clock["first_in"]
    return run
