"""The serial backend's whole path in simulation: the launch scenario of ``sevlab launch``, its
firmware and hypervisor models talking to a board's bridged system (bridge → memory system →
block RAM, the board's parameters) over the bridge's frames, one request at a time.

The measurement the firmware takes through the RTL must be the digest the guest owner computes
from the image alone. Extended: a launch is ~57,000 board cycles, 1-3 minutes in Amaranth's
simulator. The frames themselves, the bridge's refusals and the UART pins are tested in
tests/rtl/test_bridge.py (quick tier)."""

import json

import pytest

from sevlab.firmware.certs import AttestationReport
from sevlab.rtl.boards import BOARDS
from sevlab.sim.cli import main
from sevlab.sim.launch_command import launch_scenario
from sevlab.sim.machine import make_machine

IMAGE = bytes(range(256)) * 16 + b"an image that does not end on a 16-byte boundary"


@pytest.mark.extended
@pytest.mark.parametrize("board", BOARDS)
def test_the_launch_runs_end_to_end_over_the_serial_path(board):
    scenario, expected, _ = launch_scenario(IMAGE)
    machine = make_machine("serial", board=board, port="sim")
    measured, status, report, verdict = machine.run(scenario)
    assert verdict is None, verdict
    assert AttestationReport.from_bytes(report).launch_digest == expected
    assert machine.cycles > 0


@pytest.mark.extended
def test_sevlab_launch_on_a_simulated_board_prints_the_models_digest(capsys, tmp_path):
    image = tmp_path / "image.bin"
    image.write_bytes(IMAGE)
    results = {}
    for backend in (["--backend", "model"], ["--backend", "serial", "--port", "sim", "--board", "icebreaker"]):
        assert main(["launch", "--image", str(image), "--json", *backend]) == 0
        results[backend[1]] = json.loads(capsys.readouterr().out)
    assert results["serial"]["launch_digest"] == results["model"]["launch_digest"]
