"""Tests of the SEV certificates (``sevlab.firmware.certs``) and ``sevlab certs``: against the
real AMD data in ``../shared/sev-data`` (beside the project) first (round trips, the Naples and Rome chains, every
ARK/ASK pair), then the model's own signing under the simulated root. See
``firmware/README.md``, "Certificates".
"""

__all__ = []

import dataclasses
import json
import hashlib
import pathlib
import random
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from sevlab.firmware.certs import (
    SIMULATED_MARK, Algorithm, AMDCertificate, AttestationReport, BadSignature, CertificateError,
    ECDSASignature, EmptySignature, RSAPublicKey, SEVCertificate, SimulatedAMDRoot,
    Usage, VerificationError, WrongSigner, build_platform_chain, identify, load_certificate,
    make_sev_certificate, sign_sev_certificate, verify, verify_chain)
from sevlab.sim.cli import main

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "sev-data"
GENERATIONS = ("naples", "rome", "milan", "genoa", "turin")

# Every certificate file, with its size and sha256[:16] from sev-data/README.md: the list is
# fixed here, so a missing or changed file fails a test instead of silently shrinking a loop.
REAL_FILES = {
    "builtin/naples/ark.cert": (832, "dedabca561e1dece"),
    "builtin/naples/ask.cert": (832, "c6f30cf923f526c3"),
    "builtin/rome/ark.cert": (1600, "865977b268c16d5b"),
    "builtin/rome/ask.cert": (1600, "7754a69407d25540"),
    "builtin/milan/ark.cert": (1600, "1246469862b78a7a"),
    "builtin/milan/ask.cert": (1600, "c7c73765561c5800"),
    "builtin/genoa/ark.cert": (1600, "8f4e3fd36589c23f"),
    "builtin/genoa/ask.cert": (1600, "c30307e4f594fb6c"),
    "builtin/turin/ark.cert": (1600, "f6405e5096a6eee1"),
    "builtin/turin/ask.cert": (1600, "2ee285477f0d5eb9"),
    "tests/naples/cek.cert": (2084, "cbecc40f5b7d7e98"),
    "tests/naples/oca.cert": (2084, "dfa8331592774030"),
    "tests/naples/pek.cert": (2084, "31243368c2046fbf"),
    "tests/naples/pdh.cert": (2084, "34b11563c32bd17b"),
    "tests/rome/cek.cert": (2084, "bfac4879e3855bf7"),
    "tests/rome/oca.cert": (2084, "fb72952d5c8640f0"),
    "tests/rome/pek.cert": (2084, "fd5eb12d0175c91b"),
    "tests/rome/pdh.cert": (2084, "62147c9375cb6cee"),
}


def path_of(relative):
    if not DATA.is_dir():
        pytest.fail(f"the real SEV data folder {DATA} is missing: these tests need "
                    f"../shared/sev-data beside the project (see its README.md)")
    return DATA / "virtee-sev" / relative


def raw(relative):
    return path_of(relative).read_bytes()


def cert(relative):
    return load_certificate(raw(relative))


def chain_files(generation):
    return [f"builtin/{generation}/{role}.cert" for role in ("ark", "ask")] + \
           [f"tests/{generation}/{role}.cert" for role in ("cek", "oca", "pek", "pdh")]


@pytest.fixture(scope="module")
def root():
    """One RSA-4096 simulated root for the module (Rome-like); generation takes about a second."""
    return SimulatedAMDRoot.generate(bits=4096)


@pytest.fixture(scope="module")
def naples_like_root():
    return SimulatedAMDRoot.generate(bits=2048)


def platform_keys():
    return {name: ec.generate_private_key(ec.SECP384R1())
            for name in ("cek_key", "oca_key", "pek_key", "pdh_key")}


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


# --- the real data --------------------------------------------------------------------------

def test_the_data_folder_resolves():
    path_of("")                                    # fails with a clear message if missing
    assert (DATA / "README.md").is_file(), f"{DATA} has no README.md: wrong folder?"


@pytest.mark.parametrize("relative", sorted(REAL_FILES))
def test_every_real_file_is_identified_and_round_trips_byte_exactly(relative):
    data = raw(relative)
    size, digest = REAL_FILES[relative]
    assert (len(data), hashlib.sha256(data).hexdigest()[:16]) == (size, digest), \
        f"{relative} is not the file sev-data/README.md lists"
    role = pathlib.Path(relative).stem.upper()
    assert identify(data).name == role, f"{relative}: identified as {identify(data).name}"
    parsed = load_certificate(data)
    assert type(parsed) is (AMDCertificate if role in ("ARK", "ASK") else SEVCertificate)
    assert parsed.to_bytes() == data, f"{relative} does not round-trip"
    assert type(parsed).from_bytes(parsed.to_bytes()) == parsed


def test_naples_ark_is_the_truncated_file_plus_its_signature():
    bad, sig = raw("tests/naples/ark.cert.bad"), raw("tests/naples/ark.cert.sig")
    assert (len(bad), len(sig)) == (576, 256)
    assert bad + sig == raw("builtin/naples/ark.cert"), "ark.cert.bad + ark.cert.sig != ark.cert"
    assert identify(bad) is Usage.ARK
    with pytest.raises(CertificateError, match=r"576 bytes.*832.*signature is missing"):
        load_certificate(bad)
    joined = load_certificate(bad + sig)
    assert str(verify(joined, joined)) == "ARK self-signed: RSA-2048 PSS SHA-256"


def test_real_key_ids_and_versions_match_the_reference():
    # sev-reference.md §7.2 and §7.3, "Real-cert observations" and "Key IDs".
    ark_ids = {"naples": "1bb987c359494606b174945601c9ea5b", "rome": "e6002122fb58",
               "milan": "94c38e4177d0", "genoa": "9f9d4a8fe761", "turin": "d05c3a8bde48"}
    for generation, prefix in ark_ids.items():
        ark, ask = cert(f"builtin/{generation}/ark.cert"), cert(f"builtin/{generation}/ask.cert")
        assert ark.key_id.hex().startswith(prefix), f"{generation} ARK key_id {ark.key_id.hex()}"
        assert (ark.certifying_id, ask.certifying_id) == (ark.key_id, ark.key_id)
        assert (ark.usage, ask.usage, ark.exponent) == (Usage.ARK, Usage.ASK, 65537)
        assert ark.bits == (2048 if generation == "naples" else 4096)
        assert not (ark.is_simulated or ask.is_simulated)
    assert cert("builtin/naples/ask.cert").key_id.hex().startswith("e139970c")
    for generation, others in (("naples", (0, 16)), ("rome", (0, 22))):
        found = {role: (c.api_major, c.api_minor) for role in ("cek", "oca", "pek", "pdh")
                 for c in [cert(f"tests/{generation}/{role}.cert")]}
        assert found == {"cek": (0, 14), "oca": others, "pek": others, "pdh": others}, found


@pytest.mark.parametrize("generation,rsa_method", [("naples", "RSA-2048 PSS SHA-256"),
                                                   ("rome", "RSA-4096 PSS SHA-384")])
def test_real_chain_verifies(generation, rsa_method):
    certs = [cert(name) for name in chain_files(generation)]
    random.Random(generation).shuffle(certs)           # any order
    report = verify_chain(certs)
    ecdsa = "ECDSA P-384 SHA-256"
    expected = [f"ARK self-signed: {rsa_method}", f"ASK signed by ARK: {rsa_method}",
                f"CEK signed by ASK: slot 1, {rsa_method}", f"OCA self-signed: slot 1, {ecdsa}",
                f"PEK signed by OCA: slot 1, {ecdsa}", f"PEK signed by CEK: slot 2, {ecdsa}",
                f"PDH signed by PEK: slot 1, {ecdsa}"]
    assert [str(check.result) for check in report.checks] == expected, report.lines()
    assert report.ok and not report.missing and not report.simulated
    lines = report.lines()
    assert len(lines) == 6 + 7 + 1, lines
    assert lines[-1].startswith("chain verified") and SIMULATED_MARK not in "\n".join(lines)


@pytest.mark.parametrize("generation", ["naples", "rome"])
def test_real_chain_reverse_directions_fail(generation):
    ark, ask, cek, oca, pek, pdh = (cert(name) for name in chain_files(generation))
    for child, parent in ((ark, ask), (ask, ask), (cek, pek), (oca, pek), (pek, pdh),
                          (pek, pek), (pdh, oca), (pdh, cek), (cek, ark), (ask, cek)):
        with pytest.raises(VerificationError):
            verify(child, parent)
            pytest.fail(f"{child.role} verified under {parent.role}")
    with pytest.raises(WrongSigner, match="key-agreement"):
        verify(pek, pdh)         # the PDH is an ECDH key: it signs nothing
    with pytest.raises(WrongSigner, match="no signature slot has usage PEK"):
        verify(cek, pek)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_builtin_ark_ask_pair_verifies(generation):
    ark, ask = cert(f"builtin/{generation}/ark.cert"), cert(f"builtin/{generation}/ask.cert")
    hash_name = "SHA-256" if generation == "naples" else "SHA-384"
    assert str(verify(ark, ark)) == f"ARK self-signed: RSA-{ark.bits} PSS {hash_name}"
    assert str(verify(ask, ark)) == f"ASK signed by ARK: RSA-{ark.bits} PSS {hash_name}"
    with pytest.raises(WrongSigner):
        verify(ark, ask)
    for other in GENERATIONS:
        if other != generation:
            with pytest.raises(WrongSigner, match="certifying_id"):
                verify(ask, cert(f"builtin/{other}/ark.cert"))


def test_ask_signature_checked_even_with_a_forged_certifying_id():
    # The key ID only routes the check; the RSA signature decides.
    milan_ask = cert("builtin/milan/ask.cert")
    rome_ark = cert("builtin/rome/ark.cert")
    forged = dataclasses.replace(milan_ask, certifying_id=rome_ark.key_id)
    with pytest.raises(BadSignature, match="ASK not signed by ARK: bad signature"):
        verify(forged, rome_ark)


def test_naples_cek_does_not_verify_under_the_rome_ask():
    naples_cek, rome_ask = cert("tests/naples/cek.cert"), cert("builtin/rome/ask.cert")
    with pytest.raises(VerificationError, match="CEK not signed by ASK"):
        verify(naples_cek, rome_ask)
    # Nor with either hash, checked directly: the refusal is not only our hash-by-size rule.
    slot = naples_cek.signatures[0]
    for hash_algorithm in (hashes.SHA256(), hashes.SHA384()):
        with pytest.raises((InvalidSignature, ValueError)):
            rome_ask.public_key().verify(
                slot.value.to_bytes(512, "big"), naples_cek.body(),
                padding.PSS(padding.MGF1(hash_algorithm), hash_algorithm.digest_size),
                hash_algorithm)
    # Same key size, other generation: the RSA check runs and fails.
    with pytest.raises(BadSignature):
        verify(cert("tests/rome/cek.cert"), cert("builtin/milan/ask.cert"))
    with pytest.raises(WrongSigner, match="RSA_SHA384 slot, but an RSA-2048 ASK"):
        verify(cert("tests/rome/cek.cert"), cert("builtin/naples/ask.cert"))


def test_real_signatures_checked_independently_of_the_model():
    # Offsets straight from sev-reference.md §7.2/§7.3, with cryptography alone.
    pek, cek = raw("tests/rome/pek.cert"), raw("tests/rome/cek.cert")
    qx, qy = (int.from_bytes(cek[at:at + 72], "little") for at in (0x14, 0x5C))
    key = ec.EllipticCurvePublicNumbers(qx, qy, ec.SECP384R1()).public_key()
    assert struct.unpack_from("<II", pek, 0x61C) == (0x1004, 0x002)
    r, s = (int.from_bytes(pek[at:at + 72], "little") for at in (0x624, 0x624 + 72))
    key.verify(encode_dss_signature(r, s), hashlib.sha256(pek[:0x414]).digest(),
               ec.ECDSA(Prehashed(hashes.SHA256())))
    ark = raw("builtin/rome/ark.cert")
    exponent, modulus = (int.from_bytes(ark[at:at + 512], "little") for at in (0x40, 0x240))
    signature = int.from_bytes(ark[0x440:0x640], "little").to_bytes(512, "big")
    rsa.RSAPublicNumbers(exponent, modulus).public_key().verify(
        signature, ark[:0x440], padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())


def _flip_every_byte(data, end, check):
    """Change each byte of ``data[:end]`` once; the parser must refuse the result or ``check``
    must fail on it. Returns how many changes failed to parse and how many failed to verify."""
    parse_failures = verify_failures = 0
    for offset in range(end):
        changed = bytearray(data)
        changed[offset] ^= 0x01 if offset % 2 else 0x80
        try:
            parsed = load_certificate(bytes(changed))
        except CertificateError:
            parse_failures += 1
            continue
        # What was parsed is exactly what is checked: the signed bytes are the file's bytes.
        assert parsed.to_bytes() == changed, f"offset 0x{offset:x} was not kept"
        try:
            check(parsed)
        except VerificationError:
            verify_failures += 1
        else:
            pytest.fail(f"a change at offset 0x{offset:x} still verifies")
    assert parse_failures + verify_failures == end
    return parse_failures, verify_failures


def test_one_byte_change_in_a_signed_region_fails():
    ark, ask = cert("builtin/rome/ark.cert"), cert("builtin/rome/ask.cert")
    cek, oca = cert("tests/rome/cek.cert"), cert("tests/rome/oca.cert")
    naples_ask = cert("builtin/naples/ask.cert")
    cases = [
        ("builtin/rome/ark.cert", 0x440, lambda c: verify(c, c)),
        ("builtin/rome/ask.cert", 0x440, lambda c: verify(c, ark)),
        ("tests/naples/cek.cert", 0x414, lambda c: verify(c, naples_ask)),
        ("tests/rome/cek.cert", 0x414, lambda c: verify(c, ask)),
        ("tests/rome/pek.cert", 0x414, lambda c: verify(c, cek)),
        ("tests/rome/pek.cert", 0x414, lambda c: verify(c, oca)),
        ("tests/rome/oca.cert", 0x414, lambda c: verify(c, c)),
    ]
    counts = {}
    for relative, end, check in cases:
        check(cert(relative))                       # unchanged, it verifies
        counts[relative] = _flip_every_byte(raw(relative), end, check)
    # The parser refuses a changed version, code, reserved or padding byte and an EC point off
    # the curve; the signatures catch the rest (RSA moduli, API versions, usage swaps).
    assert counts["builtin/rome/ask.cert"][1] > 1000, counts
    assert all(verify_failures > 0 for _, verify_failures in counts.values()), counts


def test_changes_that_still_parse_are_caught_by_the_signature():
    # A one-byte change in a SEV certificate's body mostly breaks the point or a code and the
    # parser refuses it; these changes parse and only the signatures can catch them.
    pek, cek, oca = (cert(f"tests/rome/{role}.cert") for role in ("pek", "cek", "oca"))
    p384 = 2 ** 384 - 2 ** 128 - 2 ** 96 + 2 ** 32 - 1
    key = pek.public_key
    other = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    tampered = {
        "inverse point (x, p - y)": dataclasses.replace(
            pek, public_key=dataclasses.replace(key, y=p384 - key.y)),
        "another key": dataclasses.replace(
            pek, public_key=dataclasses.replace(key, x=other.x, y=other.y)),
        "usage PEK -> OCA": dataclasses.replace(pek, usage=Usage.OCA),
        "algo ECDSA_SHA256 -> ECDSA_SHA384": dataclasses.replace(
            pek, algorithm=Algorithm.ECDSA_SHA384),
        "API 0.22 -> 0.23": dataclasses.replace(pek, api_minor=23),
    }
    for name, changed in tampered.items():
        assert SEVCertificate.from_bytes(changed.to_bytes()) == changed, name
        for parent in (cek, oca):
            with pytest.raises(BadSignature):
                verify(changed, parent)
                pytest.fail(f"{name}: still verifies under the {parent.role}")


def test_signature_bytes_changed_fail_but_the_other_slot_still_counts():
    pek_bytes = raw("tests/rome/pek.cert")
    cek, oca = cert("tests/rome/cek.cert"), cert("tests/rome/oca.cert")
    changed = bytearray(pek_bytes)
    changed[0x624 + 10] ^= 0xFF                    # slot 2 (CEK) R
    pek = load_certificate(bytes(changed))
    with pytest.raises(BadSignature, match=r"PEK not signed by CEK: slot 2: bad signature"):
        verify(pek, cek)
    assert verify(pek, oca).slot == 1


def test_each_slot_with_the_parents_usage_is_tried():
    pek, cek = cert("tests/rome/pek.cert"), cert("tests/rome/cek.cert")
    good = pek.signatures[1]
    broken = dataclasses.replace(good, r=good.r ^ 1)
    both = pek.with_signature(1, broken).with_signature(2, good)
    assert verify(both, cek).slot == 2
    with pytest.raises(BadSignature, match="slot 1: bad signature.*slot 2: bad signature"):
        verify(pek.with_signature(1, broken).with_signature(2, broken), cek)


# --- malformed input ------------------------------------------------------------------------

def _patched(data, offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


SEV_MALFORMED = [
    ("version", lambda d: _patched(d, 0, "<I", 2), "version: 2"),
    ("reserved", lambda d: _patched(d, 6, "<H", 1), "reserved: byte 0x6"),
    ("unknown usage", lambda d: _patched(d, 8, "<I", 0x1005), "pub_key_usage: 0x1005"),
    ("AMD usage", lambda d: _patched(d, 8, "<I", 0x13), "pub_key_usage: ASK (0x13)"),
    ("unknown algo", lambda d: _patched(d, 0xC, "<I", 0x7), "pub_key_algo: 0x7"),
    ("no algo", lambda d: _patched(d, 0xC, "<I", 0), "pub_key_algo: INVALID"),
    ("unknown curve", lambda d: _patched(d, 0x10, "<I", 3), "pub_key curve: 0x3"),
    ("P-256 curve", lambda d: _patched(d, 0x10, "<I", 1), "not a point on P-256"),
    ("point", lambda d: _patched(d, 0x14, "<B", d[0x14] ^ 1), "not a point on P-384"),
    ("key padding", lambda d: _patched(d, 0x400, "<B", 1), "pub_key padding"),
    ("slot usage", lambda d: _patched(d, 0x414, "<I", 0x2000), "sig1_usage: 0x2000"),
    ("slot algo", lambda d: _patched(d, 0x418, "<I", 0x104), "sig1_algo: 0x104"),
    ("ECDH slot", lambda d: _patched(d, 0x418, "<I", 0x3), "cannot sign"),
    ("mixed empty", lambda d: _patched(d, 0x61C, "<I", 0x1001), "sig2: usage OCA (0x1001) with "
                                                                "algo INVALID"),
    ("empty not zero", lambda d: _patched(d, 0x700, "<B", 1), "sig2 (empty slot): byte 0x700"),
    ("ECDSA padding", lambda d: _patched(d, 0x41C + 144, "<B", 1), "sig1 padding after R and S"),
    ("short", lambda d: d[:-1], "2083 bytes"),
    ("long", lambda d: d + b"\0", "2085 bytes"),
]


@pytest.mark.parametrize("name,mutate,message", SEV_MALFORMED, ids=[c[0] for c in SEV_MALFORMED])
def test_malformed_sev_certificate_is_one_line_naming_the_field(name, mutate, message):
    data = mutate(raw("tests/rome/pdh.cert"))
    with pytest.raises(CertificateError) as caught:
        SEVCertificate.from_bytes(data)
    text = str(caught.value)
    assert message in text and "\n" not in text, text
    assert isinstance(caught.value, ValueError)


AMD_MALFORMED = [
    ("version", lambda d: _patched(d, 0, "<I", 0), "version: 0"),
    ("usage", lambda d: _patched(d, 0x24, "<I", 0x1002), "key_usage: PEK (0x1002) is not ARK"),
    ("unknown usage", lambda d: _patched(d, 0x24, "<I", 0x14), "key_usage: 0x14"),
    ("reserved", lambda d: _patched(d, 0x30, "<B", 1), "reserved: byte 0x30"),
    ("exponent size", lambda d: _patched(d, 0x38, "<I", 1024), "pub_exp_size: 1024"),
    ("unequal sizes", lambda d: _patched(d, 0x38, "<I", 4096), "pub_exp_size 4096 != modulus"),
    ("modulus size", lambda d: _patched(d, 0x3C, "<I", 3072), "modulus_size: 3072"),
    ("short modulus", lambda d: _patched(d, 0x40 + 2 * 256 - 1, "<B", 0), "modulus: 20"),
    ("even exponent", lambda d: _patched(d, 0x40, "<B", 0), "not an RSA public key"),
    ("no signature", lambda d: d[:576], "signature is missing"),
    ("header only", lambda d: d[:63], "shorter than the 64-byte header"),
    ("long", lambda d: d + b"\0", "833 bytes"),
]


@pytest.mark.parametrize("name,mutate,message", AMD_MALFORMED, ids=[c[0] for c in AMD_MALFORMED])
def test_malformed_amd_certificate_is_one_line_naming_the_field(name, mutate, message):
    data = mutate(raw("builtin/naples/ask.cert"))
    with pytest.raises(CertificateError) as caught:
        AMDCertificate.from_bytes(data)
    text = str(caught.value)
    assert message in text and "\n" not in text, text


def _blob(size, *, version=1, sev_usage=0, amd_usage=0):
    data = bytearray(size)
    struct.pack_into("<I", data, 0, version)
    struct.pack_into("<I", data, 0x08, sev_usage)
    struct.pack_into("<I", data, 0x24, amd_usage)
    return bytes(data)


@pytest.mark.parametrize("data,message", [
    (b"", "0 bytes: too short"),
    (_blob(2084, version=2), r"2084 bytes with version 0x2 at offset 0"),
    (_blob(832, amd_usage=0x1000), r"832 bytes: not a SEV certificate .* key_usage INVALID"),
    (_blob(2000, sev_usage=0x1002, amd_usage=0x1000), r"SEV certificate \(PEK\): 2000 bytes"),
    (_blob(2084, sev_usage=0x13), r"ASK \(0x13\) is not OCA, PEK, PDH or CEK"),
    (_blob(2084, sev_usage=0x4444), r"pub_key_usage: 0x4444"),
])
def test_identify_refuses_what_is_neither_format(data, message):
    with pytest.raises(CertificateError, match=message):
        identify(data)


def test_identify_reads_the_fields_not_the_size():
    assert identify(_blob(2084, sev_usage=0x1003, amd_usage=0x13)) is Usage.PDH
    assert identify(_blob(1600, sev_usage=0x1003, amd_usage=0x13)) is Usage.ASK
    assert identify(_blob(1600, sev_usage=0x1003, amd_usage=0x0)) is Usage.ARK


def test_der_file_is_not_taken_for_a_certificate():
    with pytest.raises(CertificateError, match="not a SEV or AMD CA certificate"):
        load_certificate(raw("tests/certs_data/vcek_milan.der"))


# --- the simulated root and the model's own signing -------------------------------------------

def test_simulated_root_is_marked_everywhere(root):
    assert root.ark.key_id == b"SEVLAB SIMULATED" and root.ask.key_id == b"SEVLAB SIM ASK 1"
    assert root.ask.certifying_id == root.ark.key_id
    assert root.ark.is_simulated and root.ask.is_simulated
    assert root.describe().startswith("simulated AMD root (sevlab), not AMD's"), root.describe()
    assert "RSA-4096 PSS SHA-384" in root.describe()
    for amd_cert in (root.ark, root.ask):
        assert SIMULATED_MARK in amd_cert.describe() and '"SEVLAB SIM' in amd_cert.describe()
    assert SIMULATED_MARK in str(verify(root.ask, root.ark))
    real_ids = {cert(f"builtin/{g}/{r}.cert").key_id for g in GENERATIONS for r in ("ark", "ask")}
    assert not real_ids & {root.ark.key_id, root.ask.key_id}


@pytest.mark.parametrize("which", ["root", "naples_like_root"])
def test_simulated_chain_verifies_with_the_same_code(request, which):
    simulated = request.getfixturevalue(which)
    chain = build_platform_chain(simulated, **platform_keys(), api_version=(0, 24))
    files = chain.files()
    assert list(files) == ["ark.cert", "ask.cert", "cek.cert", "oca.cert", "pek.cert", "pdh.cert"]
    reparsed = [load_certificate(data) for data in reversed(files.values())]
    assert [c.to_bytes() for c in reversed(reparsed)] == list(files.values())
    report = verify_chain(reparsed)
    assert report.ok and report.simulated, report.lines()
    lines = report.lines()
    assert all(SIMULATED_MARK in line for line in lines if line.startswith(("ARK", "ASK")))
    assert lines[-1].endswith(f"trust anchor: {SIMULATED_MARK}"), lines[-1]
    # The slot layout of the real chains (sev-reference.md §7.2, "Slots").
    real = {c.usage: c for c in (cert(name) for name in chain_files(
        "naples" if simulated.bits == 2048 else "rome"))}
    for role in (Usage.CEK, Usage.OCA, Usage.PEK, Usage.PDH):
        ours = [(s.usage, s.algorithm) for s in getattr(chain, role.name.lower()).signatures]
        theirs = [(s.usage, s.algorithm) for s in real[role].signatures]
        assert ours == theirs, (role, ours, theirs)
        assert getattr(chain, role.name.lower()).algorithm == real[role].algorithm


def test_simulated_and_real_chains_do_not_mix(root):
    chain = build_platform_chain(root, **platform_keys())
    with pytest.raises(BadSignature):
        verify(chain.cek, cert("builtin/rome/ask.cert"))
    with pytest.raises(BadSignature):
        verify(cert("tests/rome/cek.cert"), root.ask)
    with pytest.raises(WrongSigner, match="certifying_id"):
        verify(root.ask, cert("builtin/rome/ark.cert"))


def test_signing_checks_its_arguments(naples_like_root):
    key = ec.generate_private_key(ec.SECP384R1())
    oca = make_sev_certificate(usage=Usage.OCA, public_key=key.public_key())
    assert oca.signatures == (EmptySignature(), EmptySignature())
    signed = sign_sev_certificate(oca, key, usage=Usage.OCA)
    with pytest.raises(ValueError, match="slot 1 is already signed"):
        sign_sev_certificate(signed, key, usage=Usage.OCA, slot=1)
    full = sign_sev_certificate(signed, key, usage=Usage.OCA)
    with pytest.raises(ValueError, match="no empty signature slot"):
        sign_sev_certificate(full, key, usage=Usage.OCA)
    with pytest.raises(ValueError, match="P-384"):
        make_sev_certificate(usage=Usage.OCA,
                             public_key=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(CertificateError, match="not a SEV certificate usage"):
        make_sev_certificate(usage=Usage.ASK, public_key=key.public_key())
    with pytest.raises(ValueError, match="signs CEK certificates"):
        naples_like_root.sign_cek(oca)
    with pytest.raises(ValueError, match="P-384"):
        build_platform_chain(naples_like_root, **{**platform_keys(), "pek_key": rsa_key()})


def test_ecdsa_sha384_slot_and_rsa_key_in_a_sev_certificate():
    # Neither occurs in the real data; both are in the format (§7.2).
    oca_key = rsa_key()
    oca = SEVCertificate(usage=Usage.OCA, algorithm=Algorithm.RSA_SHA256,
                         public_key=RSAPublicKey.from_cryptography(oca_key.public_key()))
    oca = sign_sev_certificate(oca, oca_key, usage=Usage.OCA)
    assert SEVCertificate.from_bytes(oca.to_bytes()) == oca
    assert str(verify(oca, oca)) == "OCA self-signed: slot 1, RSA-2048 PSS SHA-256"
    pek_key = ec.generate_private_key(ec.SECP384R1())
    pek = make_sev_certificate(usage=Usage.PEK, public_key=pek_key.public_key())
    pek = sign_sev_certificate(pek, oca_key, usage=Usage.OCA)
    pdh = make_sev_certificate(usage=Usage.PDH,
                               public_key=ec.generate_private_key(ec.SECP384R1()).public_key())
    pdh = sign_sev_certificate(pdh, pek_key, usage=Usage.PEK, algorithm=Algorithm.ECDSA_SHA384)
    assert str(verify(pek, oca)) == "PEK signed by OCA: slot 1, RSA-2048 PSS SHA-256"
    assert str(verify(pdh, pek)) == "PDH signed by PEK: slot 1, ECDSA P-384 SHA-384"
    forged = pdh.with_signature(1, ECDSASignature(Usage.PEK, Algorithm.ECDSA_SHA256,
                                                  pdh.signatures[0].r, pdh.signatures[0].s))
    with pytest.raises(BadSignature):
        verify(forged, pek)


# --- the legacy attestation report (§11) ----------------------------------------------------

def test_attestation_report_layout_sign_and_verify():
    pek_key = ec.generate_private_key(ec.SECP384R1())
    pek = make_sev_certificate(usage=Usage.PEK, public_key=pek_key.public_key())
    mnonce, digest = bytes(range(16)), bytes(range(0x40, 0x60))
    report = AttestationReport.sign(mnonce=mnonce, launch_digest=digest, policy=0x01020304,
                                    pek_key=pek_key)
    data = report.to_bytes()
    assert len(data) == 208
    assert (data[:16], data[0x10:0x30]) == (mnonce, digest)
    assert struct.unpack_from("<IIII", data, 0x30) == (0x01020304, 0x1002, 0x002, 0)
    assert AttestationReport.from_bytes(data) == report
    assert str(report.verify(pek)) == "report signed by PEK: ECDSA P-384 SHA-256"
    # Independently: ECDSA P-384 over SHA-256 of bytes 0x00..0x33, R and S little-endian.
    r, s = (int.from_bytes(data[at:at + 72], "little") for at in (0x40, 0x88))
    pek_key.public_key().verify(encode_dss_signature(r, s), hashlib.sha256(data[:0x34]).digest(),
                                ec.ECDSA(Prehashed(hashes.SHA256())))
    for offset in list(range(0x34)) + [0x40, 0x88, 0xCF]:
        changed = bytearray(data)
        changed[offset] ^= 0x04
        with pytest.raises(BadSignature):
            AttestationReport.from_bytes(bytes(changed)).verify(pek)
            pytest.fail(f"a change at offset 0x{offset:x} still verifies")
    with pytest.raises(BadSignature):
        report.verify(cert("tests/rome/pek.cert"))
    with pytest.raises(WrongSigner, match="sig_usage is PDH"):
        AttestationReport.from_bytes(_patched(data, 0x34, "<I", 0x1003)).verify(pek)
    with pytest.raises(WrongSigner, match="signed by the PEK, not by PDH"):
        report.verify(cert("tests/rome/pdh.cert"))


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d[:207], "207 bytes, must be 208"),
    (lambda d: _patched(d, 0x3C, "<I", 1), "reserved: byte 0x3c"),
    (lambda d: _patched(d, 0x38, "<I", 0x003), "sig_algo: ECDH_SHA256"),
    (lambda d: _patched(d, 0x34, "<I", 0x7), "sig_usage: 0x7"),
])
def test_malformed_attestation_report(mutate, message):
    data = AttestationReport(mnonce=bytes(16), launch_digest=bytes(32), policy=0).to_bytes()
    with pytest.raises(CertificateError, match=message):
        AttestationReport.from_bytes(mutate(data))


# --- sevlab certs ---------------------------------------------------------------------------

def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("generation", ["naples", "rome"])
def test_cli_verifies_a_real_chain_in_any_order(capsys, generation):
    files = [path_of(name) for name in chain_files(generation)]
    for order in (files, files[::-1], random.Random(1).sample(files, len(files))):
        status, out, err = run_cli(capsys, "certs", "verify", *order)
        assert (status, err) == (0, ""), f"exit {status}: {err}{out}"
        lines = out.splitlines()
        assert len(lines) == 14, out
        assert [line.split()[0] for line in lines[:6]] == ["ARK", "ASK", "CEK", "OCA", "PEK", "PDH"]
        assert sum(line.startswith("ok    ") for line in lines) == 7, out
        assert lines[-1].startswith("chain verified"), out
        assert str(path_of(f"tests/{generation}/pek.cert")) in lines[4]


def test_cli_exports_a_simulated_chain_that_verifies(capsys, tmp_path):
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "chain", "--ark-bits", "2048")
    assert (status, err) == (0, ""), err
    assert SIMULATED_MARK in out.splitlines()[-1] and "not kept" in out
    names = sorted(p.name for p in (tmp_path / "chain").iterdir())
    assert names == ["ark.cert", "ask.cert", "cek.cert", "oca.cert", "pdh.cert", "pek.cert"]
    status, out, err = run_cli(capsys, "certs", "verify", *sorted((tmp_path / "chain").iterdir()))
    assert (status, err) == (0, ""), err
    # The ARK and ASK lines, the three signatures they take part in, and the verdict.
    assert out.count(SIMULATED_MARK) == 2 + 3 + 1, out
    assert out.splitlines()[-1].endswith(SIMULATED_MARK)
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "chain", "--ark-bits", "2048")
    assert status == 2 and out == "" and "exists" in err and err.count("\n") == 1, err
    status, _, err = run_cli(capsys, "certs", "export", tmp_path / "chain", "--ark-bits", "2048",
                             "--force")
    assert (status, err) == (0, "")


def test_cli_exports_the_stored_platform_as_its_firmware_does(capsys, tmp_path):
    """With --store the chain is the persistent platform's: made on first use, the same files
    on every later export, and the PDH is the one the firmware's PDH_CERT_EXPORT gives."""
    store = tmp_path / "platform.json"
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "a", "--store", store, "--ark-bits", "2048")
    assert (status, err) == (0, ""), err
    assert f"a new platform, kept in {store}" in out.splitlines()[-1]
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "b", "--store", store)
    assert (status, err) == (0, ""), err
    assert f"the platform kept in {store}" in out.splitlines()[-1]
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert AMDCertificate.from_bytes(first["ark.cert"]).bits == 2048
    persisted = json.loads(store.read_text())
    assert bytes.fromhex(persisted["pdh_cert"]) == first["pdh.cert"]
    assert bytes.fromhex(persisted["cek_cert"]) == first["cek.cert"]
    # No private key leaves the store: none of the six files holds one of its PEM bodies.
    pems = [value for name, value in persisted.items() if name.endswith("_key")]
    assert len(pems) == 4 and not any(pem.encode() in data for pem in pems for data in first.values())
    # Another new platform has other keys.
    status, _, _ = run_cli(capsys, "certs", "export", tmp_path / "c")
    assert status == 0 and (tmp_path / "c" / "cek.cert").read_bytes() != first["cek.cert"]


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not a platform store"),
    ('["a list"]', "is not a platform store"),
    ("{}", "holds no sevlab platform"),
    ('{"cek_key": "not a PEM"}', "the store has no chip_id"),
])
def test_cli_export_refuses_an_unusable_store(capsys, tmp_path, content, message):
    store = tmp_path / "platform.json"
    store.write_text(content)
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "chain", "--store", store)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert store.read_text() == content and not (tmp_path / "chain").exists()


@pytest.mark.parametrize("item,value", [("pdh_cert", "00" * 16), ("pek_key", "-----BEGIN nothing"),
                                        ("chip_id", "abcd"), ("ark_cert", 7)])
def test_cli_export_names_a_damaged_store_item(capsys, tmp_path, item, value):
    store = tmp_path / "platform.json"
    assert run_cli(capsys, "certs", "export", tmp_path / "a", "--store", store)[0] == 0
    damaged = {**json.loads(store.read_text()), item: value}
    store.write_text(json.dumps(damaged))
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "b", "--store", store)
    assert status == 2 and f"the store's {item} is damaged" in err and err.count("\n") == 1, err
    assert json.loads(store.read_text()) == damaged


def test_cli_export_keeps_a_stored_platforms_root(capsys, tmp_path):
    store = tmp_path / "platform.json"
    assert run_cli(capsys, "certs", "export", tmp_path / "a", "--store", store)[0] == 0
    status, out, err = run_cli(capsys, "certs", "export", tmp_path / "b", "--store", store, "--ark-bits", "2048")
    assert status == 2 and "has an RSA-4096 root" in err and err.count("\n") == 1, err


def test_cli_missing_link_exits_1(capsys):
    files = [path_of(name) for name in chain_files("rome") if not name.endswith("cek.cert")]
    status, out, err = run_cli(capsys, "certs", "verify", *files)
    assert (status, err) == (1, ""), err
    assert "FAIL  CEK missing: ASK -> CEK, CEK -> PEK not checked" in out, out
    assert out.splitlines()[-1] == "chain FAILED: missing CEK", out
    assert sum(line.startswith("ok    ") for line in out.splitlines()) == 5, out


def test_cli_bad_signature_and_wrong_generation_exit_1(capsys, tmp_path):
    pdh = bytearray(raw("tests/rome/pdh.cert"))
    pdh[0x41C] ^= 1                                  # R of the PEK's signature
    (tmp_path / "pdh.cert").write_bytes(bytes(pdh))
    files = [path_of(name) for name in chain_files("rome")[:-1]] + [tmp_path / "pdh.cert"]
    status, out, err = run_cli(capsys, "certs", "verify", *files)
    assert (status, err) == (1, ""), err
    assert "FAIL  PDH not signed by PEK: slot 1: bad signature" in out, out
    assert out.splitlines()[-1] == "chain FAILED: 1 of 7 signatures failed", out
    mixed = [path_of(name) for name in chain_files("naples")[:2] + chain_files("rome")[2:]]
    status, out, _ = run_cli(capsys, "certs", "verify", *mixed)
    assert status == 1 and "FAIL  CEK not signed by ASK" in out, out


def test_cli_two_certificates_for_one_role_exit_1(capsys):
    files = [path_of(name) for name in chain_files("rome")] + [path_of("builtin/naples/ark.cert")]
    status, out, err = run_cli(capsys, "certs", "verify", *files)
    assert (status, err) == (1, ""), err
    assert out.splitlines()[-1] == "FAIL  two ARK certificates: a chain has one of each role"


@pytest.mark.parametrize("argv,message", [
    (["certs", "verify", "{data}/tests/naples/ark.cert.bad"], "the signature is missing"),
    (["certs", "verify", "{data}/tests/naples/ark.cert.sig"], "256 bytes with version"),
    (["certs", "verify", "{data}/tests/rome/cek.cert", "{tmp}/nothing.cert"],
     "cannot read {tmp}/nothing.cert: No such file"),
    (["certs", "verify", "{tmp}"], "Is a directory"),
    (["certs", "verify", "{data}/tests/certs_data/vcek_milan.der"], "not a SEV or AMD CA"),
    (["certs", "verify"], "FILE"),
    (["certs"], "action"),
    (["certs", "export", "{tmp}/x", "--ark-bits", "1024"], "invalid choice"),
    (["certs", "export", "{data}/tests/rome/cek.cert"], "is not a directory"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    base = str(path_of(""))
    fill = {"data": base.rstrip("/"), "tmp": str(tmp_path)}
    status, out, err = run_cli(capsys, *(arg.format(**fill) for arg in argv))
    assert status == 2, f"exit {status}: {out}"
    assert out == ""
    assert err.count("\n") == 1 and message.format(**fill) in err, f"stderr: {err!r}"
    assert "Traceback" not in err
