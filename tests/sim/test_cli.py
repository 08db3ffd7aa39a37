"""The ``sevlab`` command line (sim/cli.py and its subcommands)."""

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
    (["nonsense"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2, f"exit {status}"
    assert out == ""
    assert err.count("\n") == 1 and message in err, f"stderr: {err!r}"


def test_console_script_runs_the_demo():
    # The README's main job, as a user runs it.
    result = subprocess.run([sys.executable, "-m", "sevlab.sim.cli", "demo"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[1].strip(): line for line in result.stdout.splitlines()
             if line.startswith("  ") and "  " in line[2:]}
    assert "every step equals the golden model" in result.stdout
    assert "the line (plaintext)" in lines["ASID 1 reads PA 0x1000, C=1"]
    assert "(not the line)" in lines["the hypervisor reads PA 0x1000, C=0"]
    assert "(not the line)" in lines["ciphertext copied to PA 0x3000, ASID 1 reads it"]
    assert "refused (SLVERR)" in lines["ASID 3 (no key installed) reads PA 0x1000, C=1"]


@pytest.mark.parametrize("backend", ["model", "icarus"])
def test_demo_on_other_backends(capsys, backend):
    status, out, _ = run_cli(capsys, "demo", "--backend", backend)
    assert status == 0 and "every step equals the golden model" in out, out[-2000:]


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
