"""``sevlab launch`` against independent computations: the launch digests of virtee's
measurement tests and sevctl's measurement vector (``sev-reference.md`` §9), recomputed here
with the standard library's HMAC, not with the model's code."""

import base64
import hashlib
import hmac
import json
import pathlib
import struct

import pytest

from sevlab.sim.cli import main

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "sev-data"
SEVCTL = DATA / "virtee-sevctl" / "tests" / "data"
OVMF = SEVCTL / "OVMF.amdsev.fd_trimmed_edk2-ovmf-20220126gitbb1bba3d77-4.el9"


def path(relative):
    file = DATA / relative
    assert file.is_file(), f"SEV test data file is missing: {file} (sev-reference.md §19)"
    return file


def launch(capsys, *argv):
    try:
        status = main(["launch", *map(str, argv), "--json"])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def measure(tik, api_major, api_minor, build, policy, digest, mnonce):
    """§9, API ≥ 0.17, with hmac from the standard library."""
    data = bytes([0x04, api_major, api_minor, build]) + struct.pack("<I", policy) + digest + mnonce
    return hmac.new(tik, data, hashlib.sha256).digest()


@pytest.mark.parametrize("image,kernel,initrd,append,digest", [
    ("virtee-sev/tests/measurement/ovmf_AmdSev_suffix.bin", "", "", "console=ttyS0 loglevel=7",
     "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"),
    ("virtee-sev/tests/measurement/ovmf_AmdSev_suffix.bin", "", None, None,
     "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898"),
    ("virtee-sev/tests/measurement/ovmf_OvmfX64_suffix.bin", None, None, None,
     "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"),
])
def test_launch_digest_is_virtees(capsys, tmp_path, image, kernel, initrd, append, digest):
    argv = ["--image", path(image)]
    for option, content in (("--kernel", kernel), ("--initrd", initrd)):
        if content is not None:
            (tmp_path / option[2:]).write_bytes(content.encode())
            argv += [option, tmp_path / option[2:]]
    if append is not None:
        argv += ["--append", append]
    status, out, err = launch(capsys, *argv, "--tik", path("virtee-sevctl/tests/data/measurement/tik1.bin"))
    assert (status, err) == (0, ""), err
    result = json.loads(out)
    assert result["launch_digest"] == digest
    # The measurement, recomputed from the printed fields and the TIK file.
    tik = path("virtee-sevctl/tests/data/measurement/tik1.bin").read_bytes()
    assert result["measurement"] == measure(tik, result["api_major"], result["api_minor"], result["build"],
                                            result["policy"], bytes.fromhex(digest),
                                            bytes.fromhex(result["mnonce"])).hex()


def test_kernel_hashes_digest_gives_sevctls_measurement(capsys):
    """sevctl's vector: OVMF (4 KiB), kernel, initrd, cmdline, policy 3. Its expected MEASURE is
    for API 1.40 build 40 and its nonce: our launch digest, put through that HMAC, must give it."""
    status, out, err = launch(capsys, "--image", path(OVMF.relative_to(DATA)),
                              "--kernel", SEVCTL / "measurement" / "vmlinuz-fake",
                              "--initrd", SEVCTL / "measurement" / "initrd-fake",
                              "--append", "foo bar baz fake kernel=cmdline", "--policy", "3",
                              "--tik", SEVCTL / "measurement" / "tik1.bin",
                              "--tek", SEVCTL / "secret" / "tek1.bin")
    assert (status, err) == (0, ""), err
    result = json.loads(out)
    expected = base64.b64decode("h3auYbWQnVW7EGLWN4Hf9SN0oEYMPU2sK4bLnefWPwvDE/q1EcIWsVBbGy6pkDxA")
    nonce = base64.b64decode("wxP6tRHCFrFQWxsuqZA8QA==")
    assert expected[32:] == nonce
    tik = (SEVCTL / "measurement" / "tik1.bin").read_bytes()
    assert measure(tik, 1, 40, 40, 3, bytes.fromhex(result["launch_digest"]), nonce) == expected[:32]
    assert set(result) == {"launch_digest", "measurement", "mnonce", "api_major", "api_minor", "build", "policy"}


@pytest.mark.parametrize("argv,message", [
    (["--image", "{tmp}/missing.fd"], "cannot read image"),
    (["--image", "{ovmf}", "--initrd", "{ovmf}"], "need --kernel"),
    (["--image", "{ovmf}", "--tik", "{ovmf}"], "must be 16"),
    (["--image", "{ovmf}", "--backend", "qemu"], "--backend must be one of"),
    (["--image", "{ovmf}", "--policy", "0x100000000"], "--policy must be a u32"),
    (["--image", "{ovmf}", "--backend", "serial"], "--backend serial needs --port"),
    (["--image", "{ovmf}", "--port", "/dev/ttyUSB0"], "--port goes with --backend serial"),
    (["--image", "{ovmf}", "--backend", "serial", "--port", "sim", "--board", "arty"], "--board must be one of"),
    (["--image", "{ovmf}", "--backend", "serial", "--port", "{tmp}/no-such-tty"], "cannot open"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    argv = [arg.format(tmp=tmp_path, ovmf=OVMF) for arg in argv]
    status, out, err = launch(capsys, *argv)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err
