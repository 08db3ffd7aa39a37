"""Drive one Amaranth stream in and collect another in Amaranth's simulator.

The one testbench loop every Amaranth-simulator run shares (tests, command line, benchmarks):
random idle cycles on the input, random backpressure on the output, a cycle limit, and the
cycle counts a benchmark needs. See ``README.md``.
"""

import random
import time
from dataclasses import dataclass

from amaranth.sim import Simulator

__all__ = ["StreamRun", "run_stream"]


@dataclass
class StreamRun:
    """What came out, and when.

    Cycles are numbered from the end of ``setup``. ``cycles`` spans the cycle the first input
    is offered to the cycle the last output is taken, both counted. ``latency`` is the number of
    cycles from the first input offered to the first output offered (for an engine that accepts
    at once, from its acceptance). ``output_span`` spans the
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
    expected = len(inputs) if expected_outputs is None else expected_outputs
    rng = random.Random(seed)
    outputs = []
    marks = {}

    async def testbench(ctx):
        # One loop drives both ends, so every cycle number below is exact: values are sampled
        # just before the clock edge that ends cycle ``cycle``.
        if setup is not None:
            await setup(ctx)
        pending = iter(inputs)
        offered = None      # the input on offer, kept until taken (stream rules)
        held = None         # the output offered and not taken last cycle
        for cycle in range(max_cycles):
            if offered is None and not (idle and rng.random() < idle):
                offered = next(pending, None)
            ctx.set(i_stream.valid, offered is not None)
            if offered is not None:
                ctx.set(i_stream.payload, offered)
                marks.setdefault("first_in", cycle)
            ready = not (backpressure and rng.random() < backpressure)
            ctx.set(o_stream.ready, ready)
            _, _, taken, valid, payload = await ctx.tick().sample(
                i_stream.ready, o_stream.valid, o_stream.payload)
            if offered is not None and taken:
                offered = None
            # The stream rules: once offered, a payload stays offered and unchanged until taken.
            if held is not None and not (valid and payload.as_value().value == held):
                raise AssertionError(f"output withdrawn or changed while stalled in cycle {cycle}")
            held = payload.as_value().value if valid and not ready else None
            if valid:
                marks.setdefault("first_out", cycle)
            if valid and ready:
                outputs.append(payload)
                marks["last_out"] = cycle
                if len(outputs) == expected:
                    return
        raise TimeoutError(f"{len(outputs)} of {expected} outputs after {max_cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    start = time.perf_counter()
    sim.run()
    seconds = time.perf_counter() - start
    if not outputs:
        return StreamRun(outputs, 0, 0, 0, seconds)
    return StreamRun(
        outputs=outputs,
        cycles=marks["last_out"] - marks["first_in"] + 1,
        latency=marks["first_out"] - marks["first_in"],
        output_span=marks["last_out"] - marks["first_out"] + 1,
        seconds=seconds,
    )
