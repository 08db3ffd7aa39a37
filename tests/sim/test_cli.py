"""The ``sevlab`` command line (sim/cli.py and its subcommands)."""

import io
import json
import random
import subprocess
import sys
import tempfile

import pytest

from sevlab.sim.cli import main
from sevlab.sim.model import IEEE1619_VECTORS, xts_decrypt, xts_encrypt


@pytest.fixture(autouse=True)
def own_temporary_directory(tmp_path, monkeypatch):
    """The command line keeps simulator builds under the temporary directory: give each test
    its own, so that tests running in parallel never share a build."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def xts_args(operation, key, tweak, data, *extra):
    return ["xts", operation, "--key", key.hex(), "--tweak", tweak.hex(), "--data", data.hex(),
            *extra]


@pytest.mark.parametrize("backend,engine", [("model", "pipelined"), ("amaranth", "pipelined"),
                                            ("amaranth", "compact")])
def test_xts_matches_the_golden_model(capsys, backend, engine):
    rng = random.Random(backend + engine)
    for key_bytes, blocks in ((32, 1), (64, 3)):
        key, tweak, data = rng.randbytes(key_bytes), rng.randbytes(16), rng.randbytes(16 * blocks)
        for operation, model in (("encrypt", xts_encrypt), ("decrypt", xts_decrypt)):
            status, out, err = run_cli(capsys, *xts_args(operation, key, tweak, data,
                                                         "--backend", backend, "--engine", engine))
            assert (status, err) == (0, ""), f"exit {status}: {err}"
            assert out == model(key, tweak, data).hex() + "\n", f"{operation}: {out!r}"


def test_xts_default_backend_is_the_rtl_and_takes_ieee1619_vector_1(capsys):
    vector = IEEE1619_VECTORS[0]      # key1 == key2, which cryptography would refuse
    status, out, _ = run_cli(capsys, *xts_args("encrypt", vector.key, vector.tweak,
                                               vector.plaintext))
    assert status == 0 and out.strip() == vector.ciphertext.hex(), out


@pytest.mark.parametrize("argv,message", [
    (["xts", "encrypt", "--key", "zz", "--tweak", "00" * 16, "--data", "00" * 16], "not hexadecimal"),
    (["xts", "encrypt", "--key", "00" * 16, "--tweak", "00" * 16, "--data", "00" * 16], "32 bytes"),
    (["xts", "encrypt", "--key", "00" * 32, "--tweak", "00" * 15, "--data", "00" * 16], "16 bytes"),
    (["xts", "encrypt", "--key", "00" * 32, "--tweak", "00" * 16, "--data", "00" * 17], "16-byte blocks"),
    (["xts", "encrypt", "--key", "00" * 32, "--tweak", "00" * 16, "--data", ""], "16-byte blocks"),
    (["xts", "encrypt", "--key", "00" * 32, "--tweak", "00" * 16], "--data"),
    (["xts", "scramble"], "invalid choice"),
    (["xts", "encrypt", "--key", "00" * 32, "--tweak", "00" * 16, "--data", "00" * 16,
      "--backend", "qemu"], "invalid choice"),
    (["bench", "--blocks", "3"], "at least 16"),
    (["bench", "--backends", "spice"], "spice"),
    (["bench", "--parts", "router"], "router"),
    (["bench", "--parts", "cache", "--cache-bytes", "100"], "power of two"),
    (["bench", "--parts", "unit", "--backends", "icarus"], "--parts unit runs on amaranth"),
    (["bench", "--memory-latency", "0"], "--memory-latency must be 1..1000"),
    (["demo", "--backend", "qemu"], "--backend must be one of"),
    (["demo", "--guest-size", "5000"], "--guest-size"),
    (["demo", "--guest-size", "lots"], "--guest-size must be a byte count"),
    (["demo", "--backend", "model", "--vcd", "x.vcd"], "--vcd works with --backend amaranth"),
    (["demo", "--backend", "serial"], "--backend serial needs --port"),
    (["demo", "--backend", "serial", "--port", "sim", "--board", "icebreaker", "--engine", "pipelined"],
     "the icebreaker bitstream has the narrow engine"),
    (["synth", "--board", "arty"], "--board must be one of"),
    (["synth", "--engine", "compact"], "go with --board"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2, f"exit {status}"
    assert out == ""
    assert err.count("\n") == 1 and message in err, f"stderr: {err!r}"


def test_console_script_runs_the_demo():
    # The README's main job as a user runs it, on the model (CI runs the default, the RTL, as
    # its own step; tests/sim/test_story.py compares the RTL's story with the model's).
    result = subprocess.run([sys.executable, "-m", "sevlab.sim.cli", "demo", "--backend", "model"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count(" done (") == 11, out
    assert "[11/11] B  teardown on B ... done" in out
    assert "  ok   the guest silently reads the old data: SEV has no integrity" in out
    assert "the secret, found in private memory under its GUID: 'correct horse battery staple'" in out
    assert "the guest on B reads the same image, secret, note and sector as on A: True" in out
    assert "the same code on AMD's real Rome chain: verified (7 signatures)" in out
    assert "    70726976 61746520 6e6f7465 3a206f6e |private note: on|" in out
    assert "the host, reading it through its own mapping, gets the same as DRAM" in out
    assert "The guest read the same data on A and on B: True." in out


def test_demo_json(capsys):
    status, out, err = run_cli(capsys, "demo", "--backend", "model", "--json", "--seed", "3",
                               "--guest-size", "16K")
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert result["guest_size"] == 16384 and result["seed"] == 3
    assert result["guest"]["A"] == result["guest"]["B"]
    assert [step["name"] for step in result["steps"]][:2] == ["platform", "certificates"]
    assert set(result["dram_sha256"]) == {"A", "B"}
    assert bytes.fromhex(result["dumps"]["private line (the note)"]["guest"]).startswith(b"private note")


@pytest.mark.parametrize("backend", [
    "icarus", pytest.param("verilator", marks=pytest.mark.extended)])
def test_xts_on_cocotb_backends_prints_only_the_result(backend):
    # Run as a user would: the simulator's own output must not reach stdout.
    rng = random.Random(backend)
    key, tweak, data = rng.randbytes(64), rng.randbytes(16), rng.randbytes(48)
    result = subprocess.run(
        [sys.executable, "-m", "sevlab.sim.cli", *xts_args("decrypt", key, tweak, data,
                                                           "--backend", backend)],
        capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == xts_decrypt(key, tweak, data).hex() + "\n", result.stdout[-500:]


def test_a_reader_that_goes_away_gets_no_traceback():
    # `sevlab demo | head -1`: the pipe closes after the first line.
    process = subprocess.Popen([sys.executable, "-m", "sevlab.sim.cli", "demo", "--backend", "model"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"sevlab demo:")
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 141 and b"Traceback" not in err, err.decode()[-2000:]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_demo_progress_on_a_terminal_redraws_a_bar_and_ends_each_step_cleanly():
    """On a terminal a second thread redraws the running step's line (a bar of the steps done,
    the step's seconds); the step's end erases it and prints the same line a pipe gets."""
    from sevlab.sim.demo import STEPS, _Progress
    from sevlab.sim.story import Step

    out = _Terminal()
    progress = _Progress(out, live=True, interval=3600)      # one frame at the start, then none
    first, second = Step("a", "the first step"), Step("b", "the second step", lines=["what it did"])
    for step in (first, second):
        progress("start", step)
        frame = progress.frame()
        progress("end", step)
    text = out.getvalue()
    assert frame.startswith(f"\r\033[K[ 2/{STEPS}] A  the second step ... █")
    assert "░" in frame and frame.endswith(" s")
    assert text.endswith(f"\r\033[K[ 2/{STEPS}] A  the second step ... done (0.0 s)\n          what it did\n")
    progress("start", Step("c", "a step that raises"))
    progress("failed", Step("c", "a step that raises"))
    assert out.getvalue().endswith("a step that raises ... failed\n")
