"""The LAUNCH_SECRET packet and the OVMF secret table (firmware/secret.py): the sevctl
``secretbuild`` vector of sev-reference.md §10 (header and payload, byte for byte), the firmware
opening it, both MAC layouts, and each way a packet is refused."""

__all__ = []

import base64
import hashlib
import hmac as std_hmac
import struct
import uuid

import pytest

from sevlab.firmware.secret import (
    SECRET_HEADER_SIZE,
    SECRET_TABLE_GUID,
    SecretFlags,
    SecretHeader,
    SecretLengthError,
    SecretMACError,
    UnsupportedSecretFlagsError,
    build_secret_packet,
    build_secret_table,
    open_secret_packet,
    parse_secret_table,
    secret_mac,
)

from firmware_helpers import check_bytes as _check, sev_data as _data


SECRET = "virtee-sevctl/tests/data/secret/"
SECRET1_GUID = uuid.UUID("736869e5-84f0-4973-92ec-06879ce3da0b")
SEVCTL_IV = base64.b64decode("rFR07U3TLH2YnsUj2SVZ7A==")
# The first 32 bytes (MEASURE) of a LAUNCH_MEASURE output; the last 16 are its MNONCE.
SEVCTL_MEASURE = base64.b64decode("TLeA7607lZQntLjRY1/i+sbtdSZ+75zxpz4Px9hzpBLwItF5Q2o4prA++3ZZv9ZS")[:32]
SEVCTL_HEADER = "AAAAAKxUdO1N0yx9mJ7FI9klWey8FSzeYQ4X8K71VzNKLU/KQsIsQxLjtbhaPUewqshX5Q=="
SEVCTL_PAYLOAD = "0U3e5PcXv0UW+H4tSBFKOdCYfKE1+j38Bc2fuO16mYiyI+sWx7INfn+lgYj56GL12yyinDa+lVfCCwD/2w5cPA=="
# sevctl's MAC has MEASURE appended, i.e. the API >= 0.17 form; any such version gives the vector.
API = (0, 24)


@pytest.fixture(scope="module")
def transport_keys():
    return _data(SECRET + "tek1.bin"), _data(SECRET + "tik1.bin")


@pytest.fixture(scope="module")
def table():
    return build_secret_table([(SECRET1_GUID, _data(SECRET + "secret1.txt"))])


# --- §10 vector: sevctl tests/secretbuild.rs -------------------------------------------------------

def test_secret_table_for_secret1(table):
    secret = _data(SECRET + "secret1.txt")
    assert len(table) == 64, f"table is {len(table)} bytes, expected 64"
    expected = (SECRET_TABLE_GUID.bytes_le + struct.pack("<I", 20 + 20 + len(secret))
                + SECRET1_GUID.bytes_le + struct.pack("<I", 20 + len(secret)) + secret)
    _check("table", table, expected + bytes(64 - len(expected)))
    assert table[:4] == bytes.fromhex("42f5741e"), "the table GUID is not stored little-endian"


def test_sevctl_secretbuild_header_and_payload(transport_keys, table):
    tek, tik = transport_keys
    packet = build_secret_packet(tek, tik, table, SEVCTL_MEASURE, *API, iv=SEVCTL_IV)
    header = packet.header.to_bytes()
    assert len(header) == SECRET_HEADER_SIZE == 52, f"header is {len(header)} bytes"
    assert base64.b64encode(header).decode() == SEVCTL_HEADER, base64.b64encode(header).decode()
    assert base64.b64encode(packet.trans).decode() == SEVCTL_PAYLOAD, base64.b64encode(packet.trans).decode()
    assert packet.guest_len == len(packet.trans) == 64, packet.guest_len


def test_firmware_opens_the_sevctl_packet(transport_keys, table):
    tek, tik = transport_keys
    plaintext = open_secret_packet(tek, tik, base64.b64decode(SEVCTL_HEADER), base64.b64decode(SEVCTL_PAYLOAD),
                                   64, SEVCTL_MEASURE, *API)
    _check("plaintext", plaintext, table)
    assert parse_secret_table(plaintext) == [(SECRET1_GUID, _data(SECRET + "secret1.txt"))]


def test_sevctl_vector_needs_the_measure_in_the_mac(transport_keys):
    # Below API 0.17 MEASURE is not MACed, so the same packet fails there.
    tek, tik = transport_keys
    with pytest.raises(SecretMACError):
        open_secret_packet(tek, tik, base64.b64decode(SEVCTL_HEADER), base64.b64decode(SEVCTL_PAYLOAD),
                           64, SEVCTL_MEASURE, 0, 16)


# --- MAC layout ----------------------------------------------------------------------------------------

TEK = bytes(range(16))
TIK = bytes(range(16, 32))
IV = bytes(range(32, 48))
MEASURE = hashlib.sha256(b"measure").digest()


@pytest.mark.parametrize("api, with_measure", [((0, 16), False), ((0, 17), True), ((1, 0), True)])
def test_secret_mac_layout(api, with_measure):
    # sev-tool create_launch_secret_header, checked with the standard library's hmac.
    trans = b"ciphertext!"
    data = b"\x01" + struct.pack("<I", 0) + IV + struct.pack("<II", 11, 11) + trans
    data += MEASURE if with_measure else b""
    _check(f"MAC on API {api}", secret_mac(TIK, 0, IV, 11, trans, MEASURE, *api),
           std_hmac.new(TIK, data, hashlib.sha256).digest())


def test_old_api_round_trip_without_measure():
    packet = build_secret_packet(TEK, TIK, b"old firmware secret", None, 0, 14)
    _check("plaintext", open_secret_packet(TEK, TIK, packet.header, packet.trans, packet.guest_len, None, 0, 14),
           b"old firmware secret")


def test_new_api_needs_a_measure():
    with pytest.raises(ValueError, match="MEASURE"):
        build_secret_packet(TEK, TIK, b"secret", None, 0, 17)


# --- refusals --------------------------------------------------------------------------------------

def _packet(**kwargs):
    return build_secret_packet(TEK, TIK, b"a secret of 24 bytes....", MEASURE, *API, iv=IV, **kwargs)


def _open(header, trans, guest_len, measure=MEASURE):
    return open_secret_packet(TEK, TIK, header, trans, guest_len, measure, *API)


def test_untampered_packet_opens():
    packet = _packet()
    _check("plaintext", _open(packet.header.to_bytes(), packet.trans, packet.guest_len),
           b"a secret of 24 bytes....")


def _flip(data, index):
    data = bytearray(data)
    data[index] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize("part", ["trans", "iv", "mac", "measure", "tik"])
def test_tampered_packet_fails_the_mac(part):
    packet = _packet()
    header, trans, measure, tik = packet.header, packet.trans, MEASURE, TIK
    if part == "trans":
        trans = _flip(trans, 5)
    elif part == "iv":
        header = SecretHeader(flags=0, iv=_flip(header.iv, 0), mac=header.mac)
    elif part == "mac":
        header = SecretHeader(flags=0, iv=header.iv, mac=_flip(header.mac, 31))
    elif part == "measure":
        measure = _flip(measure, 0)        # a packet made for another launch
    else:
        tik = bytes(16)
    with pytest.raises(SecretMACError):
        open_secret_packet(TEK, tik, header, trans, packet.guest_len, measure, *API)


@pytest.mark.parametrize("flags", [SecretFlags.COMPRESSED, 0x2, 0x8000_0000])
def test_flags_are_refused_even_with_a_valid_mac(flags):
    packet = _packet(flags=flags)
    with pytest.raises(UnsupportedSecretFlagsError):
        _open(packet.header, packet.trans, packet.guest_len)


def test_tampered_flags_are_refused():
    packet = _packet()
    header = SecretHeader(flags=SecretFlags.COMPRESSED, iv=packet.header.iv, mac=packet.header.mac)
    with pytest.raises(UnsupportedSecretFlagsError, match="COMPRESSED"):
        _open(header, packet.trans, packet.guest_len)


def test_guest_len_other_than_trans_len_is_refused_even_with_a_valid_mac():
    packet = _packet(guest_len=16)
    with pytest.raises(SecretLengthError, match="GUEST_LEN 16 and TRANS_LEN 24"):
        _open(packet.header, packet.trans, packet.guest_len)
    honest = _packet()
    with pytest.raises(SecretLengthError):
        _open(honest.header, honest.trans, honest.guest_len + 1)


def test_empty_packet_is_refused():
    packet = build_secret_packet(TEK, TIK, b"", MEASURE, *API, iv=IV)
    with pytest.raises(SecretLengthError):
        _open(packet.header, packet.trans, 0)


def test_header_layout():
    header = SecretHeader(flags=0x0102_0304, iv=IV, mac=MEASURE)
    raw = header.to_bytes()
    _check("header", raw, bytes.fromhex("04030201") + IV + MEASURE)
    assert SecretHeader.from_bytes(raw) == header
    with pytest.raises(ValueError, match="52 bytes"):
        SecretHeader.from_bytes(raw[:51])


# --- secret table ---------------------------------------------------------------------------------------

def test_two_secret_table_structure():
    # sevctl's two-secret expected output is not in sev-reference.md (nor the second GUID in
    # full), so only the structure is checked here.
    second = uuid.UUID("736869e5-aaaa-4973-92ec-06879ce3da0b")   # a stand-in GUID
    s1, s2 = _data(SECRET + "secret1.txt"), _data(SECRET + "secret2.txt")
    table = build_secret_table([(SECRET1_GUID, s1), (str(second), s2)])
    total = 20 + (20 + len(s1)) + (20 + len(s2))
    assert struct.unpack_from("<I", table, 16)[0] == total, table[16:20].hex()
    assert len(table) == -(-total // 16) * 16 and not any(table[total:]), len(table)
    assert parse_secret_table(table) == [(SECRET1_GUID, s1), (second, s2)]


def test_secret_table_refusals():
    with pytest.raises(ValueError, match="twice"):
        build_secret_table([(SECRET1_GUID, b"a"), (SECRET1_GUID, b"b")])
    with pytest.raises(ValueError, match="header GUID"):
        parse_secret_table(bytes(32))
    table = bytearray(build_secret_table([(SECRET1_GUID, b"abc")]))
    table[36:40] = struct.pack("<I", 100)        # the entry claims more than the table holds
    with pytest.raises(ValueError, match="length 100"):
        parse_secret_table(bytes(table))
    assert build_secret_table([]) == SECRET_TABLE_GUID.bytes_le + struct.pack("<I", 20) + bytes(12)
