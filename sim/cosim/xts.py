"""XTS co-simulation: :class:`~sevlab.rtl.xts.XTSCore` as Verilog under cocotb, for the
``icarus`` and ``verilator`` backends of ``sevlab xts``, ``sevlab bench`` and the tests.

The cocotb half (the test ``xts_units``) installs the keys, streams the beats, and writes what
came out, with cycle numbers, to a JSON file; the Python half (:func:`run_xts_cocotb`) builds,
runs, and turns that back into an :class:`~sevlab.sim.engines.XTSRun`. Beats, installs and results
go through the same functions as the Amaranth backend (``sim/engines.py``). See
``sim/cosim/README.md``.
"""

# `xts_units` is a cocotb test and stays out of __all__ (see sim/cosim/aes.py).
__all__ = ["run_xts_cocotb"]

import contextlib
import json
import os
import pathlib
import time

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from ..engines import XTSRun, assign_slots, xts_beats, xts_installs, xts_results
from .export import export_verilog
from .runner import default_build_dir, output_to, run_cocotb, testbench_params
from .streams import StreamDriver, port_layout, TB


def _core(params):
    from sevlab.rtl.xts import XTSCore
    return XTSCore(key_bits=params["key_bits"], engine=params["engine"], slots=params["slots"])


@cocotb.test()
async def xts_units(dut):
    """Install keys, stream XTS beats, record every output beat and its cycle.

    Parameters (`testbench_params`): ``key_bits``, ``engine``, ``slots``, ``installs``, ``beats``,
    ``idle``, ``backpressure``, ``result_path``, ``timeout_cycles``.
    """
    params = testbench_params()
    component = _core(params)
    tb = TB(dut, component, idle=params["idle"], backpressure=params["backpressure"])
    install = StreamDriver(dut, "i_install", port_layout(component, "i_install"),
                           clock=tb.clock, reset=tb.reset)
    await tb.start()
    rising = RisingEdge(tb.clock)
    for payload in params["installs"]:
        install.send_nowait(payload)
    # The store drops ready while it expands a key and raises it once the entry is written:
    # data may go once the last install was taken and ready has come back.
    busy_seen = False
    for _ in range(params["timeout_cycles"]):
        await rising
        await ReadOnly()
        ready = str(dut.i_install__ready.value) == "1"
        busy_seen = busy_seen or (not install.pending and not ready)
        if busy_seen and ready:
            break
    else:
        raise AssertionError("key installs did not finish")
    await rising
    first_in = tb.cycle
    started = time.perf_counter()
    for beat in params["beats"]:
        tb.driver.send_nowait(beat)
    outputs, first_out, last_out = [], None, None
    for _ in range(params["timeout_cycles"]):
        await rising
        while tb.monitor.received:
            beat = tb.monitor.recv_nowait()
            outputs.append((int(beat.data), int(beat.first), int(beat.last)))
            last_out = tb.cycle - 1
            first_out = last_out if first_out is None else first_out
        if len(outputs) == len(params["beats"]):
            break
    seconds = time.perf_counter() - started
    assert len(outputs) == len(params["beats"]), \
        f"timed out: {len(outputs)} of {len(params['beats'])} output beats"
    assert tb.driver.pending == 0 and tb.monitor.received == 0
    pathlib.Path(params["result_path"]).write_text(json.dumps({
        "outputs": outputs, "first_in": first_in, "first_out": first_out, "last_out": last_out,
        "seconds": seconds,
    }))


def run_xts_cocotb(jobs, *, key_bits=128, engine="pipelined", simulator, slots=16, idle=None,
                   backpressure=None, build_dir=None, timeout_seconds=1800, quiet=False):
    """Transform ``jobs`` on :class:`~sevlab.rtl.xts.XTSCore` under cocotb on ``simulator``.

    Returns an :class:`~sevlab.sim.engines.XTSRun` whose ``results`` are what the Verilog
    produced (not checked here: callers compare them with the golden model). ``latency`` is
    measured from the first beat handed to the driver to the first output taken.

    With ``quiet``, the build's and simulator's output goes to ``<build_dir>/last-run.log``
    instead of the terminal.

    Raises
    ------
    ValueError
        More distinct keys than ``slots``.
    SimulatorNotFound, CocotbFailure
        From :func:`~sevlab.sim.cosim.runner.run_cocotb` (with ``quiet``, the message names the
        log).
    """
    build_dir = pathlib.Path(build_dir or default_build_dir())
    assignment = assign_slots(jobs, slots)
    beats = list(xts_beats(jobs, assignment))
    params = {"key_bits": key_bits, "engine": engine, "slots": slots}
    verilog = export_verilog(_core(params), name=f"xts_{engine}_{key_bits}_{slots}",
                             build_dir=build_dir)
    result_path = build_dir.resolve() / f"xts-{os.getpid()}-{time.monotonic_ns()}.json"
    testbench = {
        **params,
        "installs": list(xts_installs(assignment)),
        "beats": [{**beat, "first": int(beat["first"]), "last": int(beat["last"]),
                   "decrypt": int(beat["decrypt"])} for beat in beats],
        "idle": idle, "backpressure": backpressure, "result_path": str(result_path),
        "timeout_cycles": 200 + 50 * len(assignment) + 40 * (len(beats) + 4 * len(jobs)),
    }
    log_path = build_dir / "last-run.log"
    try:
        with output_to(log_path) if quiet else contextlib.nullcontext():
            run_cocotb(verilog=verilog, test_module=__name__, testcase="xts_units",
                       simulator=simulator, build_dir=build_dir, testbench_params=testbench,
                       timeout_seconds=timeout_seconds)
    except AssertionError as error:
        if quiet:
            raise type(error)(f"{error} (simulator output: {log_path})") from None
        raise
    numbers = json.loads(result_path.read_text())
    result_path.unlink()
    return XTSRun(
        results=xts_results(jobs, numbers["outputs"]),
        blocks=len(beats),
        cycles=numbers["last_out"] - numbers["first_in"] + 1,
        latency=numbers["first_out"] - numbers["first_in"],
        output_span=numbers["last_out"] - numbers["first_out"] + 1,
        seconds=numbers["seconds"],
    )
