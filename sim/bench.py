"""``sevlab bench``: throughput, latency and simulation speed of the engines, per backend.

Every figure is counted in simulated clock cycles except simulation speed, which is wall-clock
and depends on the machine. ``docs/benchmarks.md`` holds a run and the command that made it.
"""

import json
import platform
import random
import sys
import time

from .bench_cache import measure_cache
from .bench_unit import measure_unit
from .cli import CommandError

__all__ = ["NAME", "HELP", "add_arguments", "run", "measure_xts", "measure_aes"]

NAME = "bench"
HELP = ("measure sustained throughput, latency and simulation speed of the AES and XTS engines, "
        "the memory encryption unit and the cache in front of it")
BACKENDS = ("amaranth", "icarus", "verilator")
UNIT_BACKENDS = ("amaranth",)     # where the machine API's operations carry cycle stamps
PARTS = ("engines", "unit", "cache")
UNIT_BYTES = 64        # one cache line: the memory encryption unit's XTS data unit


def add_arguments(parser):
    parser.add_argument("--blocks", type=int, default=1024,
                        help="16-byte blocks per measurement (at least 1000 for the report; "
                             "default %(default)s)")
    parser.add_argument("--backends", default="amaranth",
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default %(default)s)")
    parser.add_argument("--engines", default="pipelined,compact")
    parser.add_argument("--key-bits", default="128,256")
    parser.add_argument("--parts", default="engines,unit,cache",
                        help="comma-separated, from engines (AES and XTS alone), unit (the "
                             "memory encryption unit on the machine API) and cache (the cache in "
                             "front of the unit); default %(default)s")
    parser.add_argument("--cache-bytes", type=int, default=8192,
                        help="cache size for --parts cache (default %(default)s)")
    parser.add_argument("--cache-ways", type=int, default=4,
                        help="cache ways for --parts cache (default %(default)s)")
    parser.add_argument("--lines", type=int, default=64,
                        help="64-byte lines per unit throughput measurement (default %(default)s)")
    parser.add_argument("--memory-latency", type=int, default=16,
                        help="DRAM model read latency in cycles, AR handshake to first R beat "
                             "(default %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the rows as one JSON list (progress goes to stderr)")
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


def _unit_table(rows):
    lines = ["| engine | key | backend | lines | write bytes/cycle | read bytes/cycle | "
             "read latency C=0 | read latency C=1 | memory latency | simulated cycles/s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['engine']} | AES-{r['key_bits']} | {r['backend']} | {r['lines']} | "
                     f"{r['write_bytes_per_cycle']:.2f} | {r['read_bytes_per_cycle']:.2f} | "
                     f"{r['read_latency_cycles']['c0']} | {r['read_latency_cycles']['c1']} | "
                     f"{r['memory_latency_cycles']} | {r['cycles_per_second']:,} |")
    return "\n".join(lines)


def _cache_table(rows):
    lines = ["| engine | key | size, ways | hit | miss C=0 | miss C=1 | miss, dirty victim | "
             "write, allocate | write, evict dirty | read, miss | read, hit | WBINVD all dirty | "
             "WBINVD clean | simulated cycles/s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        latency, rate, wbinvd = r["read_latency_cycles"], r["bytes_per_cycle"], r["wbinvd_cycles"]
        lines.append(
            f"| {r['engine']} | AES-{r['key_bits']} | {r['cache_bytes'] // 1024} KiB, {r['ways']} | "
            f"{latency['hit']} | {latency['miss_c0']} | {latency['miss_c1']} | "
            f"{latency['miss_c1_dirty_victim']} | {rate['write_allocate']:.2f} | "
            f"{rate['write_evict']:.2f} | {rate['read_miss']:.2f} | {rate['read_hit']:.2f} | "
            f"{wbinvd['all_dirty']:,} | {wbinvd['clean']} | {r['cycles_per_second']:,} |")
    return "\n".join(lines)


def _check_cache(cache_bytes, ways):
    from ..rtl.cache import check_geometry
    try:
        check_geometry(cache_bytes, ways)
    except ValueError as error:
        raise CommandError(f"--cache-bytes/--cache-ways: {error}") from None


def run(args):
    if args.blocks < 16:
        raise CommandError(f"--blocks must be at least 16, not {args.blocks}")
    if args.lines < 2:
        raise CommandError(f"--lines must be at least 2, not {args.lines}")
    if not 1 <= args.memory_latency <= 1000:
        raise CommandError(f"--memory-latency must be 1..1000 cycles, not {args.memory_latency}")
    backends = _list(args.backends, BACKENDS, "backends")
    engine_names = _list(args.engines, ("pipelined", "compact"), "engines")
    key_sizes = [int(k) for k in _list(args.key_bits, ("128", "256"), "key-bits")]
    parts = _list(args.parts, PARTS, "parts")
    unit_backends = [b for b in backends if b in UNIT_BACKENDS]
    for part in ("unit", "cache"):
        if part in parts and not unit_backends:
            raise CommandError(f"--parts {part} runs on {', '.join(UNIT_BACKENDS)}; "
                               "--backends has none of them")
    if "cache" in parts:
        _check_cache(args.cache_bytes, args.cache_ways)
    command = "sevlab bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else \
        "sevlab bench"
    progress = sys.stderr if args.json else sys.stdout
    rows = []
    unit_rows = []
    cache_rows = []
    started = time.perf_counter()
    for engine in engine_names:
        for key_bits in key_sizes:
            if "engines" in parts:
                rows.append(measure_aes(engine=engine, key_bits=key_bits, blocks=args.blocks))
                print(_table(rows[-1:]).splitlines()[-1], file=progress, flush=True)
                for backend in backends:
                    rows.append(measure_xts(engine=engine, key_bits=key_bits, backend=backend,
                                            blocks=args.blocks))
                    print(_table(rows[-1:]).splitlines()[-1], file=progress, flush=True)
            if "unit" in parts:
                for backend in unit_backends:
                    unit_rows.append(measure_unit(engine=engine, key_bits=key_bits, backend=backend,
                                                  lines=args.lines, memory_latency=args.memory_latency))
                    print(_unit_table(unit_rows[-1:]).splitlines()[-1], file=progress, flush=True)
            if "cache" in parts:
                for backend in unit_backends:
                    cache_rows.append(measure_cache(
                        engine=engine, key_bits=key_bits, backend=backend, cache_bytes=args.cache_bytes,
                        cache_ways=args.cache_ways, memory_latency=args.memory_latency))
                    print(_cache_table(cache_rows[-1:]).splitlines()[-1], file=progress, flush=True)
    if args.json:
        print(json.dumps(rows + unit_rows + cache_rows, indent=1))
        return 0
    sections = [
        f"Command: `{command}`  \n"
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{time.perf_counter() - started:.0f} s in all",
    ]
    if rows:
        sections += [
            f"XTS rows stream {UNIT_BYTES}-byte units (one cache line, four blocks) through the "
            "key store and engine, four keys taking turns and reads and writes alternating; AES "
            "rows stream single blocks, each with its own key and direction. blocks/cycle is "
            "sustained (results over the cycles from the first result to the last); latency is "
            "from the first block offered to the first result offered. Every result is checked "
            "against the golden model.",
            _table(rows),
        ]
    if unit_rows:
        sections += [
            "Unit rows: the bare memory encryption unit (no cache): C=1 full-line writes, then "
            "reads of the same lines, through admission, key slots, tweak, cipher and DRAM port, "
            f"with {args.lines} lines offered at once; bytes/cycle is steady state (lines "
            "completed after the first, over the cycles between). Read latency is from the host "
            "AR handshake to the first R beat on an idle unit; memory latency is the DRAM "
            "model's, from its AR handshake to its first R beat.",
            _unit_table(unit_rows),
        ]
    if cache_rows:
        sections += [
            "Cache rows: the cache in front of the unit (same DRAM model). Latencies are from "
            "the host AR handshake to the first R beat on an idle system: a hit, a miss of a C=0 "
            "and of a C=1 line whose victim is clean, and a C=1 miss whose victim is dirty "
            "(written back first). Streams offer as many lines as the cache holds at once: C=1 "
            "writes into an empty cache (allocated without a fill), C=1 writes that each evict a "
            "dirty line, C=1 reads that miss, then the same reads again (hits); figures in "
            "bytes/cycle. WBINVD cycles are from the command to done (LAST_CYCLES) with every "
            "line dirty, and again with none.",
            _cache_table(cache_rows),
        ]
    report = "\n\n".join(sections)
    print()
    print(report)
    if args.output:
        with open(args.output, "w") as file:
            file.write("# Benchmarks\n\n" + report + "\n")
    return 0
