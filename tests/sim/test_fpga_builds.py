"""The ULX3S bitstream: Yosys, nextpnr and ecppack (YoWASP) on the board top, as
``sevlab synth --board ulx3s-85f`` runs them. Extended: about ten minutes on two cores. The
iCEBreaker build is not here: its top does not fit the iCE40UP5K yet (docs/fpga.md)."""

import pathlib

import pytest

from sevlab.sim.fpga import build_board


@pytest.mark.extended
def test_the_ulx3s_bitstream_builds_and_meets_its_clock(tmp_path):
    report = build_board("ulx3s-85f", build_dir=tmp_path)
    assert report.fits, report.utilization
    assert report.fmax_mhz >= report.target_mhz == 50.0, report.summary()
    assert pathlib.Path(report.bitstream).stat().st_size > 100_000
