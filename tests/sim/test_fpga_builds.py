"""The bitstreams: Yosys, nextpnr and the packer (YoWASP) on the board tops, as ``sevlab synth
--board NAME`` runs them, in the extended tier: the iCEBreaker's takes about a minute and a
half, the ULX3S's about thirteen minutes on one core (docs/fpga.md has the figures both gave).
nextpnr is deterministic for one netlist, seed and version (pyproject.toml pins the tools), so
these are the builds docs/fpga.md reports, not samples of them."""

import pathlib

import pytest

from sevlab.sim.fpga import build_board


@pytest.mark.extended
def test_the_icebreaker_bitstream_builds_and_meets_its_clock(tmp_path):
    report = build_board("icebreaker", build_dir=tmp_path)
    assert report.fits, report.utilization
    assert report.fmax_mhz >= report.target_mhz, report.summary()
    assert report.spram == 4                    # the DRAM rows on the UP5K's four SPRAMs
    assert pathlib.Path(report.bitstream).stat().st_size > 100_000


@pytest.mark.extended
def test_the_ulx3s_bitstream_builds_and_meets_its_clock(tmp_path):
    report = build_board("ulx3s-85f", build_dir=tmp_path)
    assert report.fits, report.utilization
    assert report.fmax_mhz >= report.target_mhz, report.summary()
    assert pathlib.Path(report.bitstream).stat().st_size > 100_000
