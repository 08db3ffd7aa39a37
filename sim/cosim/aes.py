"""AES co-simulation helpers: build the AES engines from JSON-friendly parameters, export them
once per process, turn a key and a block into the request/response beats the golden model
predicts, and measure simulation throughput (`measure_aes_throughput`, whose cocotb half,
the test `aes_throughput`, lives here too so a benchmark only imports this module). See
``sim/cosim/README.md``.
"""

# `aes_throughput` is a cocotb test and stays out of __all__: cocotb registers every test it finds
# among a test module's names, so a `from ... import *` would add it to that module's run.

__all__ = [
    "AES_ENGINES",
    "TAG_BITS",
    "aes_beats",
    "aes_engine",
    "aes_toplevel_name",
    "export_aes_engine",
    "measure_aes_throughput",
]

import functools
import json
import os
import pathlib
import random
import time

import cocotb
from amaranth.hdl import unsigned

from ..model import aes_decrypt_block, aes_decryption_key, aes_encrypt_block
from .export import export_verilog
from .runner import run_cocotb, testbench_params
from .streams import TB

#: The engines of ``sevlab.rtl.aes`` by the names the co-simulation parameters use.
AES_ENGINES = ("pipelined", "compact", "narrow")

#: Width of the tag the co-simulated engines carry: a beat's sequence number, so a reordered,
#: dropped or duplicated block shows up as a tag mismatch.
TAG_BITS = 8


def aes_engine(*, engine, key_bits, direction="both", describe_only=False):
    """Construct an AES engine as the co-simulation tests build it (with an 8-bit tag).

    Parameters
    ----------
    engine : "pipelined", "compact" or "narrow"
    key_bits : 128 or 256
    direction : "encrypt", "decrypt" or "both"
        Only "both" for the compact and narrow engines, which select the direction per block.
    describe_only : bool
        The instance is only asked for its layouts and timing, never elaborated (so Amaranth's
        "created but never used" warning is silenced).

    Raises
    ------
    ValueError
        If ``engine`` is unknown or an iterative engine is asked for one direction (the engines
        themselves check ``key_bits`` and ``direction``).
    """
    from ..engines import aes_engine as engine_by_name
    if engine not in AES_ENGINES:
        raise ValueError(f"AES engine must be one of {AES_ENGINES}, not {engine!r}")
    if engine in ("compact", "narrow") and direction != "both":
        raise ValueError(f"the {engine} AES engine always does both directions here, not {direction!r}")
    name = engine if direction == "both" else f"{engine}-{direction}"
    component = engine_by_name(name, key_bits=key_bits, tag_shape=unsigned(TAG_BITS))
    if describe_only:
        component._MustUse__silence = True
    return component


def aes_toplevel_name(*, engine, key_bits, direction="both"):
    """The Verilog top module name for an engine, e.g. ``"aes_pipelined_128_both"``."""
    return f"aes_{engine}_{key_bits}_{direction}"


@functools.cache
def _export(engine, key_bits, direction, build_dir):
    component = aes_engine(engine=engine, key_bits=key_bits, direction=direction)
    name = aes_toplevel_name(engine=engine, key_bits=key_bits, direction=direction)
    return export_verilog(component, name=name, build_dir=build_dir)


def export_aes_engine(*, engine, key_bits, direction="both", build_dir):
    """Export an engine's Verilog into ``build_dir`` once per process (conversion takes seconds).

    Returns
    -------
    ExportedVerilog
    """
    return _export(engine, key_bits, direction, str(pathlib.Path(build_dir).resolve()))


def aes_beats(layout_has_decrypt, *, key, block, decrypt, tag):
    """Return the request and the response the golden model predicts for one block.

    Parameters
    ----------
    layout_has_decrypt : bool
        Whether the engine's request layout has the per-block ``decrypt`` field.
    key : bytes
        The cipher key (16 or 32 bytes); decryption requests carry `aes_decryption_key` of it.
    block : bytes
        The 16-byte input block.
    decrypt : bool
    tag : int

    Returns
    -------
    (dict, dict)
        Field values for ``aes_request_layout`` and ``aes_response_layout``. Blocks and keys are
        little-endian: byte n of the FIPS-197 string is bits [8n, 8n+8).
    """
    if decrypt:
        request_key = aes_decryption_key(key)
        output = aes_decrypt_block(key, block)
    else:
        request_key = key
        output = aes_encrypt_block(key, block)
    request = {
        "block": int.from_bytes(block, "little"),
        "key": int.from_bytes(request_key, "little"),
        "tag": tag,
    }
    if layout_has_decrypt:
        request["decrypt"] = int(decrypt)
    return request, {"block": int.from_bytes(output, "little"), "tag": tag}


@cocotb.test()
async def aes_throughput(dut):
    """Stream random blocks back to back with no stalls; write cycles and wall time as JSON.

    Parameters (`testbench_params`): ``engine``, ``key_bits``, ``direction``, ``blocks``,
    ``result_path``.
    """
    params = testbench_params()
    component = aes_engine(engine=params["engine"], key_bits=params["key_bits"],
                           direction=params["direction"], describe_only=True)
    has_decrypt = params["direction"] == "both"
    rng = random.Random(params.get("seed", 1))
    blocks = params["blocks"]
    tb = TB(dut, component)
    await tb.start()
    for index in range(blocks):
        decrypt = (has_decrypt and index % 2 == 1) or params["direction"] == "decrypt"
        request, response = aes_beats(
            has_decrypt, key=rng.randbytes(params["key_bits"] // 8), block=rng.randbytes(16),
            decrypt=decrypt, tag=index % (1 << TAG_BITS))
        tb.send(request, response, label=f"block {index}")
    first_cycle = tb.cycle
    started = time.perf_counter()
    await tb.finish(timeout_cycles=(blocks + 4) * component.latency + 1000, settle_cycles=0)
    seconds = time.perf_counter() - started
    cycles = tb.cycle - first_cycle
    pathlib.Path(params["result_path"]).write_text(json.dumps({
        "cycles": cycles, "seconds": seconds, "blocks": blocks,
    }))


def measure_aes_throughput(*, engine="pipelined", key_bits=128, direction="both", simulator,
                           blocks=2000, build_dir, timeout_seconds=1800, run_options=None):
    """Measure how fast ``simulator`` runs an AES engine under cocotb.

    The engine gets ``blocks`` random blocks back to back (alternating directions when it does
    both), every output is checked against the golden model, and the simulated cycles and wall-clock
    time from the first block to the last output are reported (build and start-up excluded).

    Parameters
    ----------
    engine, key_bits, direction :
        As for `aes_engine`.
    simulator : "icarus" or "verilator"
    blocks : int
    build_dir : path-like
        Outside the source tree; builds are reused across calls with the same ``build_dir``.
    timeout_seconds : float
    run_options : mapping, optional
        More keyword arguments for `run_cocotb` (``memory_files``, ``verilator_public``, ...),
        to compare build settings.

    Returns
    -------
    dict
        ``cycles``, ``seconds``, ``blocks``, ``blocks_per_cycle``, ``cycles_per_second``,
        ``simulator``, ``build_seconds`` (0 when the build was reused) and ``run_seconds``
        (the whole simulator run, start-up included).

    Raises
    ------
    CocotbFailure
        If an output differed from the golden model or the run timed out.
    """
    if blocks < 1:
        raise ValueError(f"block count must be at least 1, not {blocks!r}")
    verilog = export_aes_engine(engine=engine, key_bits=key_bits, direction=direction,
                                build_dir=build_dir)
    result_path = pathlib.Path(build_dir).resolve() / f"throughput-{os.getpid()}-{time.monotonic_ns()}.json"
    result = run_cocotb(
        verilog=verilog,
        test_module=__name__,
        testcase="aes_throughput",
        simulator=simulator,
        build_dir=build_dir,
        testbench_params={
            "engine": engine, "key_bits": key_bits, "direction": direction, "blocks": blocks,
            "result_path": str(result_path),
        },
        timeout_seconds=timeout_seconds,
        **(run_options or {}),
    )
    numbers = json.loads(result_path.read_text())
    result_path.unlink()
    numbers.update(
        blocks_per_cycle=numbers["blocks"] / numbers["cycles"],
        cycles_per_second=numbers["cycles"] / numbers["seconds"],
        simulator=simulator,
        build_seconds=result.build_seconds,
        run_seconds=result.test_seconds,
    )
    return numbers
