"""Run AES blocks and XTS data units on the golden model or on the RTL in Amaranth's simulator.

The command line, the benchmarks and the RTL tests all go through here, so the way blocks are
packed, keys installed and results collected exists once. See ``rtl/aes/README.md`` and
``rtl/xts/README.md``.
"""

from dataclasses import dataclass

from amaranth.hdl import unsigned

from ..rtl.aes import AESCompact, AESFarm, AESNarrow, AESPipelined
from ..rtl.xts import XTSCore
from .model import (aes_decrypt_block, aes_decryption_key, aes_encrypt_block, xts_decrypt,
                    xts_encrypt)
from .streams import run_stream

__all__ = [
    "AESJob", "AES_ENGINES", "aes_engine", "run_aes_model", "run_aes_amaranth",
    "XTSJob", "XTSRun", "run_xts_model", "run_xts_amaranth", "assign_slots", "xts_beats", "xts_installs",
    "xts_results",
]

_BLOCK = 16

#: ``farm-N``: N compact engines encrypting in turn (``AESFarm``), any N from 1.
AES_ENGINES = ("pipelined", "pipelined-encrypt", "pipelined-decrypt", "compact", "narrow", "farm-N")


@dataclass(frozen=True)
class AESJob:
    """One block: ``key`` is the cipher key (the engine is given its decryption start itself)."""
    key: bytes
    block: bytes
    decrypt: bool = False


def aes_engine(name, *, key_bits, tag_shape=unsigned(0)):
    """An AES engine by name: one of :data:`AES_ENGINES`."""
    if name == "compact":
        return AESCompact(key_bits=key_bits, tag_shape=tag_shape)
    if name == "narrow":
        return AESNarrow(key_bits=key_bits, tag_shape=tag_shape)
    if name == "pipelined":
        return AESPipelined(key_bits=key_bits, direction="both", tag_shape=tag_shape)
    if name in ("pipelined-encrypt", "pipelined-decrypt"):
        return AESPipelined(key_bits=key_bits, direction=name.split("-")[1], tag_shape=tag_shape)
    if name.startswith("farm-") and name[5:].isdigit() and int(name[5:]) > 0:
        return AESFarm(engines=int(name[5:]), key_bits=key_bits, tag_shape=tag_shape)
    raise ValueError(f"AES engine must be one of {AES_ENGINES}, not {name!r}")


def run_aes_model(jobs):
    return [(aes_decrypt_block if job.decrypt else aes_encrypt_block)(job.key, job.block)
            for job in jobs]


def run_aes_amaranth(jobs, *, engine="pipelined", key_bits=128, **stream_options):
    """Transform ``jobs`` on an AES engine in Amaranth's simulator; returns
    ``(results, StreamRun)``. ``stream_options`` go to :func:`run_stream`.

    Raises
    ------
    ValueError
        A job's direction is one the engine was not built for, or a key of the wrong size.
    """
    dut = aes_engine(engine, key_bits=key_bits)
    runtime_direction = engine in ("pipelined", "compact", "narrow")
    requests = []
    for job in jobs:
        if len(job.key) * 8 != key_bits:
            raise ValueError(f"AES-{key_bits} needs a {key_bits // 8}-byte key, "
                             f"not {len(job.key)} bytes")
        if not runtime_direction and job.decrypt != (engine == "pipelined-decrypt"):     # farms encrypt
            raise ValueError(f"engine {engine!r} cannot {'de' if job.decrypt else 'en'}crypt")
        key = aes_decryption_key(job.key) if job.decrypt else job.key
        request = {"block": int.from_bytes(job.block, "little"),
                   "key": int.from_bytes(key, "little")}
        if runtime_direction:
            request["decrypt"] = job.decrypt
        requests.append(request)
    # Generous for every engine: 40 cycles a block, or four times the engine's interval
    # (the narrow engine's is 62 to 90 cycles).
    per_block = max(40, 4 * getattr(dut, "interval", 0))
    stream_options.setdefault("max_cycles", 200 + per_block * len(jobs))
    run = run_stream(dut, dut.i, dut.o, requests, **stream_options)
    return [int(out.block).to_bytes(_BLOCK, "little") for out in run.outputs], run


@dataclass(frozen=True)
class XTSJob:
    """One data unit: ``key`` is key1‖key2, ``tweak`` the 16-byte tweak value."""
    key: bytes
    tweak: bytes
    data: bytes
    decrypt: bool = False


@dataclass
class XTSRun:
    """Results of a run, in job order, and its cycle counts (see :class:`StreamRun`)."""
    results: list
    blocks: int = 0
    cycles: int = 0
    latency: int = 0
    output_span: int = 0
    seconds: float = 0.0


def run_xts_model(jobs):
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


def xts_beats(jobs, assignment):
    """The request beats (field dicts) of ``jobs``, given :func:`assign_slots`."""
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


def xts_installs(assignment):
    """The key-store install payloads (field dicts) for :func:`assign_slots`' result."""
    for key, slot in assignment.items():
        half = len(key) // 2
        yield {"slot": slot, "key1": int.from_bytes(key[:half], "little"),
               "key2": int.from_bytes(key[half:], "little")}


def xts_results(jobs, received):
    """Reassemble ``(data, first, last)`` output beats into one result per job.

    Raises
    ------
    AssertionError
        The beats' first/last markers do not frame the units as the jobs did.
    """
    results, offset = [], 0
    for job in jobs:
        count = len(job.data) // _BLOCK
        unit = received[offset:offset + count]
        markers = [(bool(first), bool(last)) for _, first, last in unit]
        expected = [(n == 0, n == count - 1) for n in range(count)]
        if markers != expected:
            raise AssertionError(f"unit markers {markers} != {expected}")
        results.append(b"".join(int(data).to_bytes(_BLOCK, "little") for data, _, _ in unit))
        offset += count
    return results


def run_xts_amaranth(jobs, *, key_bits=128, engine="pipelined", slots=16, idle=0.0,
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
    beats = list(xts_beats(jobs, assignment))
    dut = XTSCore(key_bits=key_bits, engine=engine, slots=slots)
    if max_cycles is None:
        max_cycles = 100 + 40 * len(assignment) + int(
            (len(beats) + 4 * len(jobs)) * 20 / (1 - max(idle, backpressure)))

    async def install_keys(ctx):
        for install in xts_installs(assignment):
            ctx.set(dut.i_install.payload, install)
            ctx.set(dut.i_install.valid, 1)
            await ctx.tick().until(dut.i_install.ready)
            ctx.set(dut.i_install.valid, 0)
        # The store takes the expander's latency to write the last key.
        await ctx.tick().until(dut.i_install.ready)

    stream_run = run_stream(dut, dut.i, dut.o, beats, setup=install_keys, idle=idle,
                            backpressure=backpressure, seed=seed, max_cycles=max_cycles)
    received = [(payload.data, payload.first, payload.last) for payload in stream_run.outputs]
    run = XTSRun(results=[], cycles=stream_run.cycles, latency=stream_run.latency,
                 output_span=stream_run.output_span, blocks=len(beats),
                 seconds=stream_run.seconds)
    run.results = xts_results(jobs, received)
    return run
