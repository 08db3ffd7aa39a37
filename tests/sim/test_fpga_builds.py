"""The bitstreams: Yosys, nextpnr and the packer (YoWASP) on the board tops, as ``sevlab synth
--board NAME`` runs them. The iCEBreaker build (about a minute and a half) is in the extended
tier; the ULX3S build is marked ``fpga``, not ``extended``: it takes about three quarters of an
hour on two cores, which CI's 90 minutes cannot hold beside the extended tier; run it with
``python -m pytest -m fpga`` (docs/fpga.md has the figures both gave)."""

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


@pytest.mark.fpga
def test_the_ulx3s_bitstream_builds_and_meets_its_clock(tmp_path):
    report = build_board("ulx3s-85f", build_dir=tmp_path)
    assert report.fits, report.utilization
    assert report.fmax_mhz >= report.target_mhz, report.summary()
    assert pathlib.Path(report.bitstream).stat().st_size > 100_000
