"""The ULX3S bitstream: Yosys, nextpnr and ecppack (YoWASP) on the board top, as
``sevlab synth --board ulx3s-85f`` runs them. Marked ``fpga``, not ``extended``: the build takes
about half an hour on two cores, which CI's 90 minutes cannot hold beside the extended tier; run
it with ``python -m pytest -m fpga`` (docs/fpga.md has the figures it gave). The iCEBreaker
build is not here: its top does not fit the iCE40UP5K yet."""

import pathlib

import pytest

from sevlab.sim.fpga import build_board


@pytest.mark.fpga
def test_the_ulx3s_bitstream_builds_and_meets_its_clock(tmp_path):
    report = build_board("ulx3s-85f", build_dir=tmp_path)
    assert report.fits, report.utilization
    assert report.fmax_mhz >= report.target_mhz, report.summary()
    assert pathlib.Path(report.bitstream).stat().st_size > 100_000
