"""The attack demonstrations (sim/attacks.py, ``sevlab attack``): every claim holds, on the
model in the quick tier and on the RTL in the extended one."""

import json

import pytest

from sevlab.sim.attacks import ATTACKS, run_attack
from sevlab.sim.cli import main
from sevlab.sim.machine import make_machine
from sevlab.sim.story import make_platforms


@pytest.fixture(scope="module")
def store():
    return make_platforms(seed=5)[1]


@pytest.mark.parametrize("backend", ["model", pytest.param("amaranth", marks=pytest.mark.extended)])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_claim_holds(store, name, backend):
    outcome = run_attack(name, make_machine(backend), store, seed=5)
    assert outcome.claims, "a demonstration must claim something"
    failed = [claim for claim, held in outcome.claims if not held]
    assert not failed, f"{name} on {backend}: {failed}\n" + "\n".join(outcome.lines)


def run_cli(capsys, *argv):
    try:
        status = main([str(arg) for arg in argv])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_lists_and_runs(capsys):
    status, out, err = run_cli(capsys, "attack", "--list")
    assert status == 0 and [line.split()[0] for line in out.splitlines()] == list(ATTACKS)
    status, out, err = run_cli(capsys, "attack", "refusals", "--backend", "model", "--json", "--seed", "2")
    result = json.loads(out)
    assert (status, err, result["ok"]) == (0, "", True)
    assert {c["claim"] for c in result["claims"]} >= {
        "DBG_DECRYPT on a NODBG guest is refused with POLICY_FAILURE"}


@pytest.mark.parametrize("argv,message", [
    (["attack"], "NAME must be one of"),
    (["attack", "rowhammer"], "not 'rowhammer'"),
    (["attack", "replay", "--backend", "qemu"], "--backend must be one of"),
])
def test_cli_bad_input(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err
