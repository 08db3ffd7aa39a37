"""``sevlab demo``: the whole SEV story, cycle-accurate, step by step.

Two platforms (each the memory system's RTL — ASID-tagged cache in front of the encryption unit —
with its own firmware model and chip under one simulated AMD root), a KVM-like host on each, a
guest owner, and one guest: launched with attestation and a secret, run with private and shared
pages and block I/O, shown as the guest, the host and DRAM see it, migrated from A to B and torn
down with its ASID reclaimed. The story itself is ``sim/story.py``; this module prints it.
See ``docs/demo.md``.
"""

import dataclasses
import hashlib
import json
import sys
import threading
import time

from .cli import CommandError, add_serial_arguments, serial_options
from .machine import BACKENDS
from .story import DEMO_MACHINE, MIN_GUEST_SIZE, StoryConfig, make_platforms, run_story

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "demo"
HELP = "the SEV story end to end on the RTL: launch, attestation, secret, guest I/O, migration, teardown"
STEPS = 11
DEFAULT_ENGINE = "compact"


def _size(text):
    units = {"k": 1 << 10, "m": 1 << 20}
    scale = units.get(text[-1:].lower(), 1)
    number = text[:-1] if scale != 1 else text
    if not number.isdigit():
        raise CommandError(f"--guest-size must be a byte count such as 12288 or 12K, not {text!r}")
    return int(number) * scale


def add_arguments(parser):
    parser.add_argument("--backend", default="amaranth",
                        help=f"one of {', '.join(BACKENDS)} (default %(default)s: the RTL in Amaranth's simulator)")
    parser.add_argument("--engine", choices=("pipelined", "compact"),
                        help=f"the unit's AES engine (default {DEFAULT_ENGINE}; on a board, the board's)")
    parser.add_argument("--guest-size", default=str(MIN_GUEST_SIZE), metavar="N",
                        help=f"guest RAM in bytes, whole 4 KiB pages (8K..1M; default {MIN_GUEST_SIZE})")
    parser.add_argument("--seed", type=int, default=None,
                        help="draw every key and nonce from a seeded stream, so that runs (and backends) "
                             "give byte-identical DRAM; the default uses fresh randomness")
    parser.add_argument("--host-sme", action="store_true",
                        help="the hosts encrypt their own memory with the SME key (slower on the RTL)")
    parser.add_argument("--vcd", metavar="FILE", help="write platform A's waveforms (amaranth backend)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_serial_arguments(parser)


def run(args):
    if args.backend not in BACKENDS:
        raise CommandError(f"--backend must be one of {', '.join(BACKENDS)}, not {args.backend!r}")
    if args.vcd and args.backend != "amaranth":
        raise CommandError("--vcd works with --backend amaranth")
    options = {"quiet": True} if args.backend in ("icarus", "verilator") else serial_options(args)
    if args.backend == "serial":
        from .machine.serial import board_config
        machine = board_config(args.board)
        if args.engine not in (None, machine.engine):
            raise CommandError(f"--engine: the {args.board} bitstream has the {machine.engine} engine")
    else:
        machine = dataclasses.replace(DEMO_MACHINE, engine=args.engine or DEFAULT_ENGINE)
    args.engine = machine.engine
    config = StoryConfig(backend=args.backend, guest_size=_size(args.guest_size), seed=args.seed,
                         machine=machine, vcd=args.vcd, host_sme=args.host_sme, options=options)
    try:
        config.check()
    except ValueError as error:
        raise CommandError(f"--guest-size: {error}") from None
    from .machine.serial import SerialLinkError
    try:
        return _tell(args, config)
    except SerialLinkError as error:
        raise CommandError(f"the serial link failed: {error}") from None


def _tell(args, config):
    out = sys.stdout
    platforms = make_platforms(args.seed)
    if args.json:
        result = run_story(config, platforms)
        json.dump(_as_json(args, config, result), out, indent=1)
        out.write("\n")
        return 0
    _header(out, args, config)
    result = run_story(config, platforms, _Progress(out, live=out.isatty()))
    _dumps(out, result)
    _report(out, result, config)
    return 0


def _header(out, args, config):
    m = config.machine
    cache = f"{m.cache_bytes // 1024} KiB {m.cache_ways}-way ASID-tagged cache" if m.cache_bytes else "no cache"
    if args.backend == "serial":
        memory, where = (f"{m.memory_bytes // 1024} KiB of block RAM",
                         f"the {args.board} board at {args.port} (platform B on the golden model)")
    else:
        memory, where = f"DRAM latency {m.memory_latency} cycles", args.backend
    out.write(f"sevlab demo: AMD SEV on the memory system's RTL ({cache}, {args.engine} XTS-AES-{m.key_bits} "
              f"unit, C-bit {m.cbit_position}, {memory}) on {where}; guest RAM {config.guest_size // 1024} KiB; two platforms under a simulated AMD "
              f"root (not AMD's){'; host SME on' if config.host_sme else ''}"
              f"{'; seeded: not secret' if config.seed is not None else ''}\n\n")


class _Progress:
    """Prints each step as it starts and ends. ``live`` (a terminal): while a step runs, a bar of
    the steps done and the seconds spent in this one, redrawn in place by a second thread."""

    BAR = 22

    def __init__(self, out, *, live=False, interval=0.25):
        self.out, self.count, self.live, self.interval = out, 0, live, interval
        self._lock = threading.Lock()
        self._stop = None
        self._heading = ""
        self._started = 0.0

    def __call__(self, event, step):
        """``event``: "start", "end" or "failed" (the step raised)."""
        if event == "start":
            self.count += 1
            self._heading = f"[{self.count:2}/{STEPS}] {step.platform}  {step.title} ..."
            self._started = time.perf_counter()
            if self.live:
                self._stop = threading.Event()
                threading.Thread(target=self._redraw, args=(self._stop,), daemon=True).start()
            else:
                self._write(self._heading)
            return
        cycles = f"{step.cycles:,} cycles, " if step.cycles else ""
        if event == "end":
            ending = f" done ({cycles}{step.seconds:.1f} s)\n" + "".join(f"          {line}\n" for line in step.lines)
        else:
            ending = " failed\n"
        with self._lock:            # no frame can follow this: the thread checks the event under the lock
            if self._stop is not None:
                self._stop.set()
                self._stop = None
            self.out.write(("\r\033[K" + self._heading if self.live else "") + ending)
            self.out.flush()

    def frame(self):
        """One frame of the live line: the heading, a bar of the steps done, the step's seconds."""
        done = (self.count - 1) * self.BAR // STEPS
        bar = "█" * done + "░" * (self.BAR - done)
        return f"\r\033[K{self._heading} {bar} {time.perf_counter() - self._started:5.1f} s"

    def _redraw(self, stop):
        while True:
            with self._lock:
                if stop.is_set():
                    return
                self.out.write(self.frame())
                self.out.flush()
            stop.wait(self.interval)

    def _write(self, text):
        with self._lock:
            self.out.write(text)
            self.out.flush()


def _cell(data):
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in data)
    return f"{data.hex(' ', 4)} |{text}|"


def _dumps(out, result):
    out.write("\nOne 64-byte line each: what the guest sees, beside what DRAM holds:\n")
    for label, (guest, host, dram) in result.dumps.items():
        out.write(f"  {label + ':':<55}   DRAM\n")
        for n in range(0, len(guest), 16):
            out.write(f"    {_cell(guest[n:n + 16])}   {_cell(dram[n:n + 16])}\n")
        seen = ("the same as DRAM" if host == dram else "the guest's plaintext" if host == guest
                else f"{host[:16].hex(' ', 4)}… (neither)")
        out.write(f"    the host, reading it through its own mapping, gets {seen}\n")


def _report(out, result, config):
    c = result.counters
    same = result.guest.get("A") == result.guest.get("B")
    cache = (f"the cache hit {c['HITS']:,} times, missed {c['MISSES']:,}, wrote back {c['WRITEBACKS']:,} lines"
             if config.machine.cache_bytes else "no cache")
    where = "on the board" if config.backend == "serial" else "simulated"
    out.write(f"\nReport: {result.cycles:,} cycles {where} in {result.seconds:.1f} s; the unit encrypted "
              f"{c['LINES_ENCRYPTED']:,} lines, decrypted {c['LINES_DECRYPTED']:,}, passed {c['LINES_BYPASSED']:,} "
              f"through; {cache}.\nThe guest read the same data on A and on B: {same}.\n")


def _as_json(args, config, result):
    return {
        "backend": args.backend, "engine": args.engine, "guest_size": config.guest_size, "seed": args.seed,
        "cycles": result.cycles, "seconds": round(result.seconds, 3), "counters": result.counters,
        "steps": [{"name": s.name, "platform": s.platform, "title": s.title, "lines": s.lines,
                   "cycles": s.cycles, "seconds": round(s.seconds, 3)} for s in result.steps],
        "guest": result.guest,
        "dumps": {label: {"guest": g.hex(), "host": h.hex(), "dram": d.hex()}
                  for label, (g, h, d) in result.dumps.items()},
        "dram_sha256": {name: hashlib.sha256(b"".join(page.to_bytes(8, "little") + data
                                                      for page, data in image.items())).hexdigest()
                        for name, image in result.dram.items()},
    }
