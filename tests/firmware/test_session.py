"""The launch session (firmware/session.py) and the guest policy (firmware/policy.py): the KDF,
HMAC and session vectors of sev-reference.md §8 (virtee/sev ``src/session/{key,mod}.rs``), the
blob layout, a round trip over real ECDH P-384 keys, and each way a blob is refused."""

__all__ = []

import dataclasses
import hmac as std_hmac
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sevlab.firmware.policy import GuestPolicy, PolicyFlags, PolicyRule, api_at_least, policy_word
from sevlab.firmware.session import (
    SESSION_SIZE,
    PolicyMACError,
    Session,
    WrapMACError,
    build_session,
    build_session_from_shared_secret,
    derive_wrapping_keys,
    ecdh_shared_secret,
    hmac_sha256,
    kdf,
    open_session,
    open_session_from_shared_secret,
)

ZERO16 = bytes(16)
TEK = bytes(range(0x10, 0x20))
TIK = bytes(range(0x20, 0x30))


def _hex(value):
    return value.hex() if isinstance(value, bytes) else repr(value)


def _check(name, actual, expected):
    assert actual == expected, f"{name}: got {_hex(actual)}, expected {_hex(expected)}"


# --- §8 vectors --------------------------------------------------------------------------------

def test_kdf_vector_virtee_derive():
    # virtee src/session/key.rs test `derive`: a 16-byte output, i.e. L = 128 bits.
    _check("KDF(0^16, 128, sev-master-secret, 0^16)",
           kdf(ZERO16, 128, b"sev-master-secret", ZERO16),
           bytes.fromhex("ab4d269fcc62bedb4511d56c386ce706"))


def test_hmac_vector_virtee_mac():
    # virtee src/session/key.rs test `mac`.
    _check("HMAC-SHA256(0^16, 0^4)", hmac_sha256(ZERO16, bytes(4)),
           bytes.fromhex("aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af"))


def test_session_vector_virtee_session():
    # virtee src/session/mod.rs test `session`: Z = 0^16, nonce = iv = TEK = TIK = 0, policy 0.
    keys = derive_wrapping_keys(ZERO16, ZERO16)
    _check("KEK", keys.kek, bytes.fromhex("b6abfbfb75ea1ea74ed8750b8afdb973"))
    _check("KIK", keys.kik, bytes.fromhex("53b524bf5669a363f365c864acba8572"))
    session = build_session_from_shared_secret(ZERO16, ZERO16, ZERO16, 0, nonce=ZERO16, iv=ZERO16)
    _check("NONCE", session.nonce, ZERO16)
    _check("WRAP_IV", session.wrap_iv, ZERO16)
    _check("WRAP_TK", session.wrap_tk,
           bytes.fromhex("2137bc7f9bb8bd7c3e55a576a15d3454b3856b8ba27afadf46dcfee9f02c02c4"))
    _check("WRAP_MAC", session.wrap_mac,
           bytes.fromhex("3176c0752738bd9d5e86689534020f528c088f16238826b000b327dee6aeed7d"))
    _check("POLICY_MAC", session.policy_mac,
           bytes.fromhex("aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af"))
    # And the firmware side takes the same blob apart again.
    tek, tik = open_session_from_shared_secret(ZERO16, session.to_bytes(), 0)
    _check("unwrapped TEK", tek, ZERO16)
    _check("unwrapped TIK", tik, ZERO16)


def test_kdf_counter_and_length_are_little_endian_over_several_blocks():
    # 264 bits need two PRF blocks: i = 1, 2 and L = 264, each a little-endian u32 (checked with
    # the standard library's hmac, independently of the module's cryptography-based HMAC).
    key, label, context = b"k" * 48, b"sev-test", b"ctx"
    blocks = b"".join(
        std_hmac.new(key, struct.pack("<I", i) + label + b"\0" + context + struct.pack("<I", 264),
                     hashlib.sha256).digest()
        for i in (1, 2))
    _check("KDF(264 bits)", kdf(key, 264, label, context), blocks[:33])
    # The first block depends on L, so a shorter output is not a prefix of a longer one.
    assert kdf(key, 128, label, context) != kdf(key, 264, label, context)[:16]


@pytest.mark.parametrize("length_bits", [0, -8, 12, 1.5, True])
def test_kdf_refuses_lengths_that_are_not_whole_bytes(length_bits):
    with pytest.raises(ValueError, match="multiple of 8"):
        kdf(ZERO16, length_bits, b"sev-kek")


# --- blob layout ---------------------------------------------------------------------------------

def test_session_blob_layout_is_byte_exact():
    fields = {"nonce": b"\x01" * 16, "wrap_tk": b"\x02" * 32, "wrap_iv": b"\x03" * 16,
              "wrap_mac": b"\x04" * 32, "policy_mac": b"\x05" * 32}
    raw = Session(**fields).to_bytes()
    expected = b"\x01" * 16 + b"\x02" * 32 + b"\x03" * 16 + b"\x04" * 32 + b"\x05" * 32
    _check("blob", raw, expected)
    # 128 bytes: sevapi.h sev_session_buf and virtee's Session (the reference's "0x90 = 144" is a
    # slip; its own table ends at 0x60 + 32 = 0x80).
    assert len(raw) == SESSION_SIZE == 0x80, f"blob is {len(raw)} bytes, expected 128"
    for name, offset, size in Session.FIELDS:
        assert raw[offset:offset + size] == fields[name], f"{name} is not at {offset:#x}"
    assert Session.from_bytes(raw) == Session(**fields), "from_bytes(to_bytes(s)) != s"


@pytest.mark.parametrize("size", [0, 127, 129, 144])
def test_session_blob_of_the_wrong_size_is_refused(size):
    with pytest.raises(ValueError, match="128 bytes"):
        Session.from_bytes(bytes(size))


# --- real ECDH P-384 round trip and refusals -----------------------------------------------------

@pytest.fixture(scope="module")
def keys():
    """A platform PDH key pair and a guest owner GODH key pair, both P-384."""
    return {"pdh": ec.generate_private_key(ec.SECP384R1()), "godh": ec.generate_private_key(ec.SECP384R1()),
            "other_pdh": ec.generate_private_key(ec.SECP384R1())}


POLICY = GuestPolicy(flags=PolicyFlags.NODBG | PolicyFlags.NOKS, api_major=0, api_minor=17)


def _owner_blob(keys, policy=POLICY):
    return build_session(keys["godh"], keys["pdh"].public_key(), TEK, TIK, policy).to_bytes()


def test_ecdh_secret_is_the_48_byte_x_coordinate_on_both_sides(keys):
    owner = ecdh_shared_secret(keys["godh"], keys["pdh"].public_key())
    firmware = ecdh_shared_secret(keys["pdh"], keys["godh"].public_key())
    assert len(owner) == 48, f"Z is {len(owner)} bytes, expected 48"
    _check("Z (firmware side)", firmware, owner)


def test_firmware_opens_the_guest_owners_session(keys):
    blob = _owner_blob(keys)
    assert len(blob) == SESSION_SIZE
    tek, tik = open_session(keys["pdh"], keys["godh"].public_key(), blob, POLICY)
    _check("TEK", tek, TEK)
    _check("TIK", tik, TIK)
    # The policy may be given as the u32 word as well.
    assert open_session(keys["pdh"], keys["godh"].public_key(), blob, POLICY.to_int()) == (TEK, TIK)


def test_fresh_nonce_and_iv_each_time(keys):
    first, second = _owner_blob(keys), _owner_blob(keys)
    assert first[:16] != second[:16], "two sessions share a NONCE"
    assert first[0x30:0x40] != second[0x30:0x40], "two sessions share a WRAP_IV"


@pytest.mark.parametrize("field, error", [
    ("nonce", WrapMACError),        # a different master secret, so a different KIK
    ("wrap_tk", WrapMACError),
    ("wrap_mac", WrapMACError),
    ("wrap_iv", PolicyMACError),    # not under WRAP_MAC: it unwraps another TIK, caught by POLICY_MAC
    ("policy_mac", PolicyMACError),
])
def test_tampered_blob_is_refused(keys, field, error):
    session = Session.from_bytes(_owner_blob(keys))
    value = bytearray(getattr(session, field))
    value[3] ^= 0x40
    tampered = dataclasses.replace(session, **{field: bytes(value)})
    with pytest.raises(error):
        open_session(keys["pdh"], keys["godh"].public_key(), tampered.to_bytes(), POLICY)


def test_other_policy_is_refused_by_the_policy_mac(keys):
    blob = _owner_blob(keys)
    weaker = dataclasses.replace(POLICY, flags=PolicyFlags.NOKS)   # NODBG dropped by the hypervisor
    with pytest.raises(PolicyMACError, match="0x11000002"):
        open_session(keys["pdh"], keys["godh"].public_key(), blob, weaker)


def test_session_for_another_platform_is_refused(keys):
    with pytest.raises(WrapMACError):
        open_session(keys["other_pdh"], keys["godh"].public_key(), _owner_blob(keys), POLICY)


def test_keys_off_p384_are_refused(keys):
    p256 = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="P-384"):
        build_session(p256, keys["pdh"].public_key(), TEK, TIK, 0)
    with pytest.raises(ValueError, match="P-384"):
        open_session(keys["pdh"], p256.public_key(), _owner_blob(keys), POLICY)
    with pytest.raises(TypeError, match="EC public key"):
        open_session(keys["pdh"], b"not a key", _owner_blob(keys), POLICY)


@pytest.mark.parametrize("name, kwargs, match", [
    ("short TEK", {"tek": bytes(15)}, "TEK must be 16 bytes"),
    ("long TIK", {"tik": bytes(17)}, "TIK must be 16 bytes"),
    ("short nonce", {"nonce": bytes(8)}, "nonce must be 16 bytes"),
    ("policy over 32 bits", {"policy": 1 << 32}, "u32"),
])
def test_guest_owner_inputs_are_validated(name, kwargs, match):
    args = {"tek": TEK, "tik": TIK, "policy": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        build_session_from_shared_secret(ZERO16, **args)


# --- policy --------------------------------------------------------------------------------------

def test_policy_bits_are_the_references():
    # sev-reference.md §6: bits 0..5, API_MAJOR 23:16, API_MINOR 31:24; sev-tool presets.
    expected = {"NODBG": 0x01, "NOKS": 0x02, "ES": 0x04, "NOSEND": 0x08, "DOMAIN": 0x10, "SEV": 0x20}
    assert {flag.name: flag.value for flag in PolicyFlags} == expected
    policy = GuestPolicy.from_int(0x1100_0037)
    assert policy == GuestPolicy(flags=PolicyFlags(0x37), api_major=0, api_minor=0x11), policy
    assert policy.api_minor == 17 and policy.api_major == 0
    _check("policy bytes", GuestPolicy(api_major=1, api_minor=2).to_bytes(), bytes.fromhex("00000102"))
    _check("sev-tool MAX", int(GuestPolicy(flags=PolicyFlags.NODBG | PolicyFlags.NOKS | PolicyFlags.ES
                                           | PolicyFlags.NOSEND)), 0x0F)


@pytest.mark.parametrize("word", [0, 1, 0x37, 0x32, 0x0F, 0x1100_0005, 0xFFFF_FFFF, 0x0000_0040])
def test_policy_round_trips_every_bit(word):
    _check("from_int/to_int", GuestPolicy.from_int(word).to_int(), word)
    _check("policy_word", policy_word(GuestPolicy.from_int(word)), word)


@pytest.mark.parametrize("word, api, es, rule", [
    (0x0000_0001, (0, 17), False, None),
    (0x1100_0001, (0, 17), False, None),                      # minimum 0.17 on 0.17
    (0x1800_0001, (0, 17), False, PolicyRule.API_VERSION),    # minimum 0.24 on 0.17
    (0x0001_0001, (0, 24), False, PolicyRule.API_VERSION),    # minimum 1.0 on 0.24
    (0x0001_0001, (1, 0), False, None),
    (0x0000_0004, (0, 24), False, PolicyRule.ES_UNAVAILABLE),
    (0x0000_0004, (0, 24), True, None),
    (0x0000_0041, (0, 24), True, PolicyRule.RESERVED_BITS),
    (0x1800_0044, (0, 17), False, PolicyRule.RESERVED_BITS),  # the first rule broken is reported
])
def test_policy_broken_rule(word, api, es, rule):
    found = GuestPolicy.from_int(word).broken_rule(*api, es_initialised=es)
    assert found is rule, f"policy {word:#010x} on API {api} (ES {es}): got {found}, expected {rule}"


def test_api_versions_compare_as_pairs():
    assert api_at_least(1, 0, (0, 17)) and api_at_least(0, 17, (0, 17)) and not api_at_least(0, 16, (0, 17))


@pytest.mark.parametrize("kwargs, match", [
    ({"api_major": 256}, "api_major must be a u8"),
    ({"flags": 0x40}, "bits 5:0"),
    ({"reserved": 0x1_0000}, "15:6"),
])
def test_policy_fields_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GuestPolicy(**kwargs)
