"""The LAUNCH_SECRET packet (spec §6.6, Table 55; ``sev-reference.md`` §10): after checking the
launch measurement, the guest owner encrypts a secret under the TEK and authenticates it, with
the measurement, under the TIK; the firmware checks it and writes the plaintext into guest
memory. Also the OVMF secret table that such a secret usually carries. See
``firmware/README.md``.
"""

__all__ = [
    "SECRET_HEADER_SIZE", "SECRET_MAC_CONTEXT", "SECRET_TABLE_GUID", "SECRET_TABLE_HEADER_SIZE",
    "SecretFlags", "SecretHeader", "SecretPacket",
    "SecretError", "SecretMACError", "UnsupportedSecretFlagsError", "SecretLengthError",
    "secret_mac", "build_secret_packet", "open_secret_packet",
    "build_secret_table", "parse_secret_table",
]

import enum
import os
import struct
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from .measurement import MEASURE_CONTEXT_API, MEASURE_SIZE
from .policy import api_at_least
from .session import KEY_SIZE, MAC_SIZE, NONCE_SIZE, _check_bytes, aes_128_ctr, hmac_sha256, \
    hmac_sha256_matches

#: The packet header (``sevapi.h sev_hdr_buf``): FLAGS u32 @0, IV[16] @4, MAC[32] @0x14.
SECRET_HEADER_SIZE = 4 + NONCE_SIZE + MAC_SIZE
#: The context byte that starts the MAC input (sev-tool ``create_launch_secret_header``).
SECRET_MAC_CONTEXT = 0x01
#: OVMF's ``SEV_SECRET_GUID`` table header (sevctl ``secret.rs``), stored as ``bytes_le``.
SECRET_TABLE_GUID = uuid.UUID("1e74f542-71dd-4d66-963e-ef4287ff173b")
#: A table header and an entry header are both GUID[16] ‖ u32 length.
SECRET_TABLE_HEADER_SIZE = 16 + 4

_U32_MAX = 0xFFFF_FFFF


class SecretFlags(enum.IntFlag):
    """Header FLAGS."""
    #: The transport data is compressed. The model does not support it.
    COMPRESSED = 1 << 0


class SecretError(Exception):
    """A LAUNCH_SECRET packet that the firmware must refuse."""


class SecretMACError(SecretError):
    """The header MAC does not authenticate the packet (with the launch MEASURE for API ≥ 0.17)
    under the TIK."""


class UnsupportedSecretFlagsError(SecretError):
    """FLAGS has COMPRESSED or a reserved bit set."""


class SecretLengthError(SecretError):
    """GUEST_LEN differs from TRANS_LEN, or both are zero."""


@dataclass(frozen=True)
class SecretHeader:
    """The 52-byte packet header."""
    flags: int
    iv: bytes
    mac: bytes

    def __post_init__(self):
        if isinstance(self.flags, bool) or not isinstance(self.flags, int) or not 0 <= self.flags <= _U32_MAX:
            raise ValueError(f"secret header flags must be a u32, not {self.flags!r}")
        object.__setattr__(self, "iv", _check_bytes("secret header IV", self.iv, NONCE_SIZE))
        object.__setattr__(self, "mac", _check_bytes("secret header MAC", self.mac, MAC_SIZE))

    @classmethod
    def from_bytes(cls, raw):
        """Split a 52-byte header.

        Raises
        ------
        ValueError
            If ``raw`` is not 52 bytes.
        """
        raw = _check_bytes("secret header", raw, SECRET_HEADER_SIZE)
        flags, = struct.unpack_from("<I", raw, 0)
        return cls(flags=flags, iv=raw[4:4 + NONCE_SIZE], mac=raw[4 + NONCE_SIZE:])

    def to_bytes(self):
        """The 52-byte header."""
        return struct.pack("<I", self.flags) + self.iv + self.mac


class SecretPacket(NamedTuple):
    """What the guest owner hands the hypervisor: the header, the transport data (TRANS) and
    GUEST_LEN for the LAUNCH_SECRET buffer."""
    header: SecretHeader
    trans: bytes
    guest_len: int


def _check_u32(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32_MAX:
        raise ValueError(f"{name} must be a u32, not {value!r}")
    return value


def _secret_mac_input(flags, iv, guest_len, trans, measure, api_major, api_minor):
    iv = _check_bytes("secret IV", iv, NONCE_SIZE)
    trans = _check_bytes("transport data", trans)
    parts = [bytes([SECRET_MAC_CONTEXT]),
             struct.pack("<I", _check_u32("secret flags", flags)), iv,
             struct.pack("<II", _check_u32("GUEST_LEN", guest_len), _check_u32("TRANS_LEN", len(trans))),
             trans]
    if api_at_least(api_major, api_minor, MEASURE_CONTEXT_API):
        if measure is None:
            raise ValueError(f"API {api_major}.{api_minor} puts MEASURE into the secret MAC; it is missing")
        parts.append(_check_bytes("MEASURE", measure, MEASURE_SIZE))
    return parts


def secret_mac(tik, flags, iv, guest_len, trans, measure, api_major, api_minor):
    """The header MAC::

        HMAC-SHA256(TIK, 0x01 ‖ FLAGS_LE32 ‖ IV ‖ GUEST_LEN_LE32 ‖ TRANS_LEN_LE32 ‖ TRANS ‖ MEASURE)

    MEASURE (the 32-byte MEASURE of LAUNCH_MEASURE, not the 48-byte output) is appended only for
    API ≥ 0.17; below that it is ignored and may be ``None``.

    Raises
    ------
    ValueError
        For sizes or values out of range, or a missing MEASURE on API ≥ 0.17.
    """
    tik = _check_bytes("TIK", tik, KEY_SIZE)
    parts = _secret_mac_input(flags, iv, guest_len, trans, measure, api_major, api_minor)
    return hmac_sha256(tik, *parts)


def build_secret_packet(tek, tik, secret, measure, api_major, api_minor, iv=None, guest_len=None,
                        *, flags=0):
    """The guest owner's LAUNCH_SECRET packet (sev-tool ``package_secret``, sevctl
    ``secret build``): TRANS = AES-128-CTR(TEK, IV, secret) and the header MAC
    (:func:`secret_mac`).

    Parameters
    ----------
    tek, tik : bytes
        The transport keys of the launch session.
    secret : bytes
        The plaintext to inject (for OVMF, a table from :func:`build_secret_table`).
    measure : bytes or None
        The 32-byte MEASURE the guest owner verified; unused below API 0.17.
    api_major, api_minor : int
        The firmware's API version.
    iv : bytes, optional
        16 bytes; fresh random when omitted.
    guest_len : int, optional
        GUEST_LEN; ``len(secret)`` when omitted (QEMU and KVM always use that). Another value
        gives a packet the firmware refuses; it exists for tests.
    flags : int
        FLAGS; 0 unless a test wants a packet the firmware refuses.

    Returns
    -------
    SecretPacket
    """
    secret = _check_bytes("secret", secret)
    iv = os.urandom(NONCE_SIZE) if iv is None else _check_bytes("secret IV", iv, NONCE_SIZE)
    guest_len = len(secret) if guest_len is None else guest_len
    trans = aes_128_ctr(tek, iv, secret)
    mac = secret_mac(tik, flags, iv, guest_len, trans, measure, api_major, api_minor)
    return SecretPacket(header=SecretHeader(flags=flags, iv=iv, mac=mac), trans=trans, guest_len=guest_len)


def open_secret_packet(tek, tik, header, trans, guest_len, measure, api_major, api_minor):
    """The firmware's check and decryption of a LAUNCH_SECRET packet.

    Parameters
    ----------
    tek, tik : bytes
        The guest's transport keys (from its launch session).
    header : bytes or SecretHeader
        The 52-byte header.
    trans : bytes
        The transport data; TRANS_LEN is its length.
    guest_len : int
        GUEST_LEN from the command buffer.
    measure : bytes or None
        The MEASURE this firmware returned at LAUNCH_MEASURE (used for API ≥ 0.17).
    api_major, api_minor : int
        This firmware's API version.

    Returns
    -------
    bytes
        The plaintext to write into guest memory (``guest_len`` bytes).

    Raises
    ------
    UnsupportedSecretFlagsError
        FLAGS is not zero. [U] The model supports no compression (the spec's COMPRESSED bit) and
        refuses reserved bits too.
    SecretLengthError
        GUEST_LEN ≠ TRANS_LEN, or both are zero. [U] Public sources only show tools that set
        them equal; without compression the model has no meaning for unequal lengths.
    SecretMACError
        The MAC does not match.

    Notes
    -----
    [U] The order of the checks is the model's: FLAGS, then lengths, then the MAC, then
    decryption. The first two are checks on plaintext fields that cost nothing; any packet
    refused by them would also have been refused by a MAC check had it been altered in
    transit.
    """
    header = header if isinstance(header, SecretHeader) else SecretHeader.from_bytes(header)
    trans = _check_bytes("transport data", trans)
    guest_len = _check_u32("GUEST_LEN", guest_len)
    if header.flags:
        names = "COMPRESSED" if header.flags == SecretFlags.COMPRESSED else f"{header.flags:#x}"
        raise UnsupportedSecretFlagsError(f"secret FLAGS {names} are not supported (only 0)")
    if guest_len != len(trans) or not trans:
        raise SecretLengthError(f"GUEST_LEN {guest_len} and TRANS_LEN {len(trans)} must be equal and non-zero")
    parts = _secret_mac_input(header.flags, header.iv, guest_len, trans, measure, api_major, api_minor)
    if not hmac_sha256_matches(_check_bytes("TIK", tik, KEY_SIZE), header.mac, *parts):
        raise SecretMACError("the secret header MAC does not authenticate the packet under the TIK")
    return aes_128_ctr(tek, header.iv, trans)


def _guid(value):
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def build_secret_table(entries):
    """OVMF's secret table (the layout sevctl ``secret build`` writes)::

        SECRET_TABLE_GUID[16] ‖ u32 total length ‖ entry … ‖ zero padding to a multiple of 16
        entry = GUID[16] ‖ u32 (20 + len(data)) ‖ data

    The total length counts the table header and the entries, not the padding. GUIDs are stored
    in the little-endian (``bytes_le``) form.

    Parameters
    ----------
    entries : iterable of (uuid.UUID or str, bytes)
        The secrets, in the order to store them.

    Raises
    ------
    ValueError
        For an invalid GUID, a repeated GUID, or a table too long for its u32 length.
    """
    body = bytearray()
    seen = set()
    for guid, data in entries:
        guid = _guid(guid)
        if guid in seen:
            raise ValueError(f"secret GUID {guid} appears twice")
        seen.add(guid)
        data = _check_bytes(f"secret {guid}", data)
        body += guid.bytes_le + struct.pack("<I", SECRET_TABLE_HEADER_SIZE + len(data)) + data
    total = SECRET_TABLE_HEADER_SIZE + len(body)
    table = SECRET_TABLE_GUID.bytes_le + struct.pack("<I", _check_u32("secret table length", total)) + body
    return table + bytes(-len(table) % 16)


def parse_secret_table(raw):
    """The entries of an OVMF secret table, as a list of ``(uuid.UUID, bytes)``; what follows the
    total length (the padding) is ignored.

    Raises
    ------
    ValueError
        If the header GUID is wrong or a length runs outside the table.
    """
    raw = _check_bytes("secret table", raw)
    if len(raw) < SECRET_TABLE_HEADER_SIZE or raw[:16] != SECRET_TABLE_GUID.bytes_le:
        raise ValueError("not an OVMF secret table: the header GUID is missing")
    total, = struct.unpack_from("<I", raw, 16)
    if not SECRET_TABLE_HEADER_SIZE <= total <= len(raw):
        raise ValueError(f"secret table length {total} is outside 20..{len(raw)}")
    entries = []
    offset = SECRET_TABLE_HEADER_SIZE
    while offset < total:
        if total - offset < SECRET_TABLE_HEADER_SIZE:
            raise ValueError(f"secret table entry at {offset} is cut short by the table length {total}")
        length, = struct.unpack_from("<I", raw, offset + 16)
        if not SECRET_TABLE_HEADER_SIZE <= length <= total - offset:
            raise ValueError(f"secret table entry at {offset} has length {length}, outside 20..{total - offset}")
        entries.append((uuid.UUID(bytes_le=raw[offset:offset + 16]),
                        raw[offset + SECRET_TABLE_HEADER_SIZE:offset + length]))
        offset += length
    return entries
