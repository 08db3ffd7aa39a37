"""``sevlab bench``: throughput, latency and simulation speed of the engines, per backend.

Every figure is counted in simulated clock cycles except simulation speed, which is wall-clock
and depends on the machine. ``docs/benchmarks.md`` holds a run and the command that made it.
"""

import platform
import random
import sys
import time

from .cli import CommandError

__all__ = ["NAME", "HELP", "add_arguments", "run", "measure_xts", "measure_aes"]

NAME = "bench"
HELP = "measure sustained throughput, latency and simulation speed of the AES and XTS engines"
BACKENDS = ("amaranth", "icarus", "verilator")
UNIT_BYTES = 64        # one cache line: the memory encryption unit's XTS data unit


def add_arguments(parser):
    parser.add_argument("--blocks", type=int, default=1024,
                        help="16-byte blocks per measurement (at least 1000 for the report; "
                             "default %(default)s)")
    parser.add_argument("--backends", default="amaranth",
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default %(default)s)")
    parser.add_argument("--engines", default="pipelined,compact")
    parser.add_argument("--key-bits", default="128,256")
    parser.add_argument("--output", metavar="FILE", help="also write the report as Markdown")


def _list(text, allowed, name):
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if item not in allowed:
            raise CommandError(f"--{name}: {item!r} is not one of {', '.join(map(str, allowed))}")
    if not items:
        raise CommandError(f"--{name} is empty")
    return items


def _xts_jobs(blocks, key_bits, seed=0):
    # Lines at consecutive addresses, four keys (ASIDs) taking turns, reads and writes mixed:
    # the worst case for anything that would cost a cycle on a key or direction change.
    from .engines import XTSJob
    rng = random.Random(seed)
    keys = [rng.randbytes(key_bits // 4) for _ in range(4)]
    units = max(1, blocks * 16 // UNIT_BYTES)
    return [XTSJob(keys[n % 4], (0x1000 + 64 * n).to_bytes(16, "little"),
                   rng.randbytes(UNIT_BYTES), n % 2 == 1) for n in range(units)]


def measure_xts(*, engine, key_bits, backend, blocks):
    """One XTS measurement: a dict of cycles, rates and speeds (see module docstring).

    Raises
    ------
    AssertionError
        The engine's results differ from the golden model (a benchmark of a wrong answer is
        worth nothing).
    """
    from . import engines
    jobs = _xts_jobs(blocks, key_bits)
    if backend == "amaranth":
        run = engines.run_xts_amaranth(jobs, key_bits=key_bits, engine=engine)
    else:
        from .cosim.xts import run_xts_cocotb
        run = run_xts_cocotb(jobs, key_bits=key_bits, engine=engine, simulator=backend,
                             quiet=True)
    if run.results != engines.run_xts_model(jobs).results:
        raise AssertionError(f"XTS {engine} {key_bits} on {backend} differs from the golden model")
    return {
        "what": f"XTS-AES-{key_bits}", "engine": engine, "backend": backend,
        "blocks": run.blocks, "cycles": run.cycles, "latency": run.latency,
        "blocks_per_cycle": run.blocks / run.output_span,
        "cycles_per_second": run.cycles / run.seconds if run.seconds else float("nan"),
    }


def measure_aes(*, engine, key_bits, blocks):
    """AES engine alone, Amaranth's simulator: blocks a cycle and latency."""
    from . import engines
    rng = random.Random(1)
    jobs = [engines.AESJob(rng.randbytes(key_bits // 8), rng.randbytes(16), n % 2 == 1)
            for n in range(blocks)]
    results, run = engines.run_aes_amaranth(jobs, engine=engine, key_bits=key_bits,
                                            max_cycles=40 * blocks + 200)
    if results != engines.run_aes_model(jobs):
        raise AssertionError(f"AES {engine} {key_bits} differs from the golden model")
    return {
        "what": f"AES-{key_bits}", "engine": engine, "backend": "amaranth",
        "blocks": blocks, "cycles": run.cycles, "latency": run.latency,
        "blocks_per_cycle": blocks / run.output_span,
        "cycles_per_second": run.cycles / run.seconds,
    }


def _table(rows):
    lines = ["| block | engine | backend | blocks | cycles | blocks/cycle | bytes/cycle | "
             "latency (cycles) | simulated cycles/s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['engine']} | {r['backend']} | {r['blocks']} | "
                     f"{r['cycles']} | {r['blocks_per_cycle']:.3f} | "
                     f"{16 * r['blocks_per_cycle']:.2f} | {r['latency']} | "
                     f"{r['cycles_per_second']:,.0f} |")
    return "\n".join(lines)


def run(args):
    if args.blocks < 16:
        raise CommandError(f"--blocks must be at least 16, not {args.blocks}")
    backends = _list(args.backends, BACKENDS, "backends")
    engine_names = _list(args.engines, ("pipelined", "compact"), "engines")
    key_sizes = [int(k) for k in _list(args.key_bits, ("128", "256"), "key-bits")]
    command = "sevlab bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else \
        "sevlab bench"
    rows = []
    started = time.perf_counter()
    for engine in engine_names:
        for key_bits in key_sizes:
            rows.append(measure_aes(engine=engine, key_bits=key_bits, blocks=args.blocks))
            print(_table(rows[-1:]).splitlines()[-1], flush=True)
            for backend in backends:
                rows.append(measure_xts(engine=engine, key_bits=key_bits, backend=backend,
                                        blocks=args.blocks))
                print(_table(rows[-1:]).splitlines()[-1], flush=True)
    report = "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{time.perf_counter() - started:.0f} s in all",
        "",
        f"XTS rows stream {UNIT_BYTES}-byte units (one cache line, four blocks) through the "
        "key store and engine, four keys taking turns and reads and writes alternating; AES rows "
        "stream single blocks, each with its own key and direction. blocks/cycle is sustained "
        "(results over the cycles from the first result to the last); latency is from the "
        "first block offered to the first result offered. Every result is checked against "
        "the golden model.",
        "",
        _table(rows),
    ])
    print()
    print(report)
    if args.output:
        with open(args.output, "w") as file:
            file.write("# Benchmarks\n\n" + report + "\n")
    return 0
