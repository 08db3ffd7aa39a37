"""Drive one Amaranth stream in and collect another in Amaranth's simulator.

The one testbench loop every Amaranth-simulator run shares (tests, command line, benchmarks):
random idle cycles on the input, random backpressure on the output, a cycle limit, and the
cycle counts a benchmark needs. See ``README.md``.
"""

import random
from dataclasses import dataclass

from amaranth.sim import Simulator

__all__ = ["StreamRun", "run_stream"]


@dataclass
class StreamRun:
    """What came out, and when.

    ``cycles`` spans the first input accepted to the last output taken. ``latency`` is the
    cycles from the first input accepted to the first output offered. ``output_span`` spans the
    first output offered to the last output taken, so ``len(outputs) / output_span`` is the
    sustained rate once the pipeline is full.
    """
    outputs: list
    cycles: int
    latency: int
    output_span: int
    seconds: float = 0.0


def run_stream(dut, i_stream, o_stream, inputs, *, expected_outputs=None, setup=None, idle=0.0,
               backpressure=0.0, seed=0, max_cycles=100_000):
    """Feed ``inputs`` (payload values or dicts) into ``i_stream``, collect ``o_stream``.

    ``setup`` is an optional ``async def setup(ctx)`` run before the first input (to install
    keys, say). Outputs are returned as sampled payload values.

    Raises
    ------
    TimeoutError
        Fewer outputs than expected arrived within ``max_cycles``.
    AssertionError
        The output broke the stream rules (withdrew or changed a payload before it was taken).
    """
    import time
    expected = len(inputs) if expected_outputs is None else expected_outputs
    rng = random.Random(seed)
    outputs = []
    clock = {"cycle": 0, "first_in": None, "first_out": None, "last_out": None}

    async def counter(ctx):
        async for _ in ctx.tick():
            clock["cycle"] += 1

    async def producer(ctx):
        if setup is not None:
            await setup(ctx)
        for payload in inputs:
            while idle and rng.random() < idle:
                await ctx.tick()
            ctx.set(i_stream.payload, payload)
            ctx.set(i_stream.valid, 1)
            await ctx.tick().until(i_stream.ready)
            if clock["first_in"] is None:
                clock["first_in"] = clock["cycle"]
            ctx.set(i_stream.valid, 0)

    async def consumer(ctx):
        held = None     # the payload offered and not taken last cycle
        while len(outputs) < expected:
            if clock["cycle"] > max_cycles:
                raise TimeoutError(f"{len(outputs)} of {expected} outputs after {max_cycles} "
                                   f"cycles")
            ready = not (backpressure and rng.random() < backpressure)
            ctx.set(o_stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(o_stream.valid, o_stream.payload)
            # The stream rules: once offered, a payload stays offered and unchanged until taken.
            if held is not None and not (valid and payload.as_value().value == held):
                raise AssertionError(f"output withdrawn or changed while stalled at cycle "
                                     f"{clock['cycle']}")
            held = payload.as_value().value if valid and not ready else None
            if valid and clock["first_out"] is None:
                clock["first_out"] = clock["cycle"]
            if valid and ready:
                outputs.append(payload)
                clock["last_out"] = clock["cycle"]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(counter)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    start = time.perf_counter()
    sim.run()
    seconds = time.perf_counter() - start
    if not outputs:
        return StreamRun(outputs, 0, 0, 0, seconds)
    return StreamRun(
        outputs=outputs,
        cycles=clock["last_out"] - clock["first_in"] + 1,
        latency=clock["first_out"] - clock["first_in"],
        output_span=clock["last_out"] - clock["first_out"] + 1,
        seconds=seconds,
    )
