"""The launch session (LAUNCH_START, spec §6.2; ``sev-reference.md`` §8): the guest owner wraps a
transport encryption key (TEK) and a transport integrity key (TIK) for the firmware, under keys
derived from an ECDH P-384 secret between its GODH key and the platform's PDH key, and binds the
guest policy to them. Both sides are here: :func:`build_session` (guest owner) and
:func:`open_session` (firmware). See ``firmware/README.md``.
"""

__all__ = [
    "SESSION_SIZE", "KEY_SIZE", "NONCE_SIZE", "MAC_SIZE",
    "LABEL_MASTER_SECRET", "LABEL_KEK", "LABEL_KIK",
    "hmac_sha256", "hmac_sha256_matches", "aes_128_ctr", "kdf", "ecdh_shared_secret",
    "WrappingKeys", "derive_wrapping_keys", "TransportKeys",
    "Session", "SessionError", "WrapMACError", "PolicyMACError",
    "build_session", "build_session_from_shared_secret",
    "open_session", "open_session_from_shared_secret",
]

import os
import struct
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .policy import policy_word

#: Size of the session blob: the packed ``sevapi.h sev_session_buf`` and virtee's ``repr(C)``
#: ``launch::sev::Session`` are both 16 + 32 + 16 + 32 + 32 = 128 bytes. (``sev-reference.md``
#: §8 says "0x90 = 144 bytes", which its own field table, ending at 0x60 + 32, contradicts.)
SESSION_SIZE = 0x80
#: TEK, TIK, KEK, KIK and the master secret are all 128-bit.
KEY_SIZE = 16
#: NONCE, WRAP_IV, MNONCE and the LAUNCH_SECRET IV are 16 bytes.
NONCE_SIZE = 16
#: An HMAC-SHA256 tag.
MAC_SIZE = 32

LABEL_MASTER_SECRET = b"sev-master-secret"
LABEL_KEK = b"sev-kek"
LABEL_KIK = b"sev-kik"


def _check_bytes(name, value, size=None):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, not {len(value)}")
    return value


def hmac_sha256(key, *parts):
    """HMAC-SHA256 under ``key`` of the concatenation of ``parts``."""
    mac = hmac.HMAC(bytes(key), hashes.SHA256())
    for part in parts:
        mac.update(bytes(part))
    return mac.finalize()


def hmac_sha256_matches(key, tag, *parts):
    """Whether ``tag`` is the HMAC-SHA256 under ``key`` of the concatenated ``parts``, compared
    in constant time (``cryptography``'s ``verify``)."""
    mac = hmac.HMAC(bytes(key), hashes.SHA256())
    for part in parts:
        mac.update(bytes(part))
    try:
        mac.verify(bytes(tag))
    except InvalidSignature:
        return False
    return True


def aes_128_ctr(key, iv, data):
    """AES-128-CTR of ``data`` with the 16-byte initial counter block ``iv`` (the whole block is
    the big-endian counter, as OpenSSL's ``EVP_aes_128_ctr``). Encryption and decryption are
    the same operation."""
    key = _check_bytes("AES-128 key", key, KEY_SIZE)
    iv = _check_bytes("CTR IV", iv, NONCE_SIZE)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(bytes(data)) + encryptor.finalize()


def kdf(key, length_bits, label, context=b""):
    """The SEV key derivation function: NIST SP 800-108 KDF in counter mode with HMAC-SHA256 as
    the PRF, but with the counter ``i`` and the output length ``L`` (in bits) encoded as
    **little-endian** u32 (``sev-reference.md`` §8)::

        K(i) = HMAC-SHA256(key, i_LE32 ‖ label ‖ 0x00 ‖ context ‖ L_LE32),  i = 1, 2, …
        output = first L/8 bytes of K(1) ‖ K(2) ‖ …

    Parameters
    ----------
    key : bytes
        The key derivation key (any length; the session feeds the ECDH secret Z, then the
        16-byte master secret).
    length_bits : int
        ``L``, a positive multiple of 8.
    label, context : bytes
        The label goes in without a terminator; the 0x00 separator is added here.

    Raises
    ------
    ValueError
        If ``length_bits`` is not a positive multiple of 8 or ``key``/``label`` are empty.
    """
    key = _check_bytes("KDF key", key)
    label = _check_bytes("KDF label", label)
    context = _check_bytes("KDF context", context)
    if isinstance(length_bits, bool) or not isinstance(length_bits, int) \
            or length_bits <= 0 or length_bits % 8 or length_bits > 0xFFFF_FFFF:
        raise ValueError(f"KDF length must be a positive multiple of 8 bits, not {length_bits!r}")
    if not key:
        raise ValueError("KDF key must not be empty")
    if not label:
        raise ValueError("KDF label must not be empty")
    length = length_bits // 8
    blocks = []
    for counter in range(1, -(-length // MAC_SIZE) + 1):
        blocks.append(hmac_sha256(key, struct.pack("<I", counter), label, b"\x00", context,
                                  struct.pack("<I", length_bits)))
    return b"".join(blocks)[:length]


def ecdh_shared_secret(private_key, peer_public_key):
    """The ECDH P-384 shared secret Z: the big-endian X coordinate of the shared point, 48 bytes
    (what OpenSSL's ``EVP_PKEY_derive`` gives sev-tool and virtee, and what they feed the KDF).

    Raises
    ------
    TypeError
        If the keys are not ``cryptography`` elliptic-curve keys.
    ValueError
        If either key is not on P-384.
    """
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"private key must be an EC private key, not {type(private_key).__name__}")
    if not isinstance(peer_public_key, ec.EllipticCurvePublicKey):
        raise TypeError(f"peer key must be an EC public key, not {type(peer_public_key).__name__}")
    for role, key in (("private", private_key), ("peer public", peer_public_key)):
        if not isinstance(key.curve, ec.SECP384R1):
            raise ValueError(f"{role} key must be on P-384 (secp384r1), not {key.curve.name}")
    return private_key.exchange(ec.ECDH(), peer_public_key)


class WrappingKeys(NamedTuple):
    """The keys a session derives from Z and its NONCE."""
    master_secret: bytes
    kek: bytes
    kik: bytes


class TransportKeys(NamedTuple):
    """What a session carries: TEK (AES-128-CTR) and TIK (HMAC-SHA256 key), 16 bytes each."""
    tek: bytes
    tik: bytes


def derive_wrapping_keys(shared_secret, nonce):
    """master = KDF(Z, 128, "sev-master-secret", NONCE); KEK = KDF(master, 128, "sev-kek");
    KIK = KDF(master, 128, "sev-kik")."""
    shared_secret = _check_bytes("shared secret Z", shared_secret)
    nonce = _check_bytes("session nonce", nonce, NONCE_SIZE)
    master = kdf(shared_secret, KEY_SIZE * 8, LABEL_MASTER_SECRET, nonce)
    return WrappingKeys(master_secret=master,
                        kek=kdf(master, KEY_SIZE * 8, LABEL_KEK),
                        kik=kdf(master, KEY_SIZE * 8, LABEL_KIK))


class SessionError(Exception):
    """A session blob that the firmware must refuse."""


class WrapMACError(SessionError):
    """WRAP_MAC does not authenticate WRAP_TK under the KIK: wrong PDH/GODH pair, a changed
    NONCE, WRAP_TK or WRAP_MAC."""


class PolicyMACError(SessionError):
    """POLICY_MAC does not authenticate the policy of the command buffer under the unwrapped TIK:
    the policy was changed, POLICY_MAC was changed, or WRAP_IV was changed (WRAP_MAC does not
    cover WRAP_IV, so a changed IV unwraps a different TIK and is caught here)."""


# (name, offset, size), spec order; Session.to_bytes and from_bytes both walk this table.
_SESSION_FIELDS = (
    ("nonce", 0x00, NONCE_SIZE),
    ("wrap_tk", 0x10, 2 * KEY_SIZE),
    ("wrap_iv", 0x30, NONCE_SIZE),
    ("wrap_mac", 0x40, MAC_SIZE),
    ("policy_mac", 0x60, MAC_SIZE),
)
assert all(offset == sum(size for _, _, size in _SESSION_FIELDS[:index])
           for index, (_, offset, _) in enumerate(_SESSION_FIELDS))
assert sum(size for _, _, size in _SESSION_FIELDS) == SESSION_SIZE


@dataclass(frozen=True)
class Session:
    """The 128-byte session blob (``sevapi.h sev_session_buf``)::

        0x00 NONCE[16]  0x10 WRAP_TK[32]  0x30 WRAP_IV[16]  0x40 WRAP_MAC[32]  0x60 POLICY_MAC[32]
    """
    nonce: bytes
    wrap_tk: bytes
    wrap_iv: bytes
    wrap_mac: bytes
    policy_mac: bytes

    FIELDS = _SESSION_FIELDS

    def __post_init__(self):
        for name, _, size in _SESSION_FIELDS:
            object.__setattr__(self, name, _check_bytes(f"session {name}", getattr(self, name), size))

    @classmethod
    def from_bytes(cls, raw):
        """Split a 128-byte blob into its fields.

        Raises
        ------
        ValueError
            If ``raw`` is not 128 bytes.
        """
        raw = _check_bytes("session blob", raw, SESSION_SIZE)
        return cls(**{name: raw[offset:offset + size] for name, offset, size in _SESSION_FIELDS})

    def to_bytes(self):
        """The 128-byte blob."""
        raw = bytearray(SESSION_SIZE)
        for name, offset, size in _SESSION_FIELDS:
            raw[offset:offset + size] = getattr(self, name)
        return bytes(raw)


def _random_or(name, value):
    return os.urandom(NONCE_SIZE) if value is None else _check_bytes(name, value, NONCE_SIZE)


def build_session_from_shared_secret(shared_secret, tek, tik, policy, nonce=None, iv=None):
    """The guest owner's session blob, from the ECDH secret Z directly (the form the published
    vectors use; they feed a 16-byte zero Z). :func:`build_session` is the usual entry point.

    Parameters
    ----------
    shared_secret : bytes
        Z.
    tek, tik : bytes
        The transport keys to hand to the firmware, 16 bytes each.
    policy : int or GuestPolicy
        The guest policy the firmware will see in the LAUNCH_START buffer.
    nonce, iv : bytes, optional
        16 bytes each; fresh random values when omitted.

    Returns
    -------
    Session
    """
    tek = _check_bytes("TEK", tek, KEY_SIZE)
    tik = _check_bytes("TIK", tik, KEY_SIZE)
    nonce = _random_or("session nonce", nonce)
    iv = _random_or("session WRAP_IV", iv)
    keys = derive_wrapping_keys(shared_secret, nonce)
    wrap_tk = aes_128_ctr(keys.kek, iv, tek + tik)
    return Session(nonce=nonce, wrap_tk=wrap_tk, wrap_iv=iv,
                   wrap_mac=hmac_sha256(keys.kik, wrap_tk),
                   policy_mac=hmac_sha256(tik, struct.pack("<I", policy_word(policy))))


def build_session(godh_private_key, pdh_public_key, tek, tik, policy, nonce=None, iv=None):
    """The guest owner's session blob for a platform's PDH key (sev-tool
    ``build_session_buffer``, virtee ``Session::start``).

    Z = ECDH(GODH private, PDH public); then :func:`build_session_from_shared_secret`.

    Raises
    ------
    TypeError, ValueError
        For keys that are not EC P-384 keys, or byte strings of the wrong size.
    """
    return build_session_from_shared_secret(ecdh_shared_secret(godh_private_key, pdh_public_key),
                                            tek, tik, policy, nonce=nonce, iv=iv)


def open_session_from_shared_secret(shared_secret, session_bytes, policy):
    """The firmware's side of LAUNCH_START, from Z directly: authenticate the blob, unwrap the
    transport keys and check that they bind ``policy``.

    Parameters
    ----------
    shared_secret : bytes
        Z.
    session_bytes : bytes or Session
        The 128-byte blob from the LAUNCH_START buffer.
    policy : int or GuestPolicy
        The policy from the LAUNCH_START buffer.

    Returns
    -------
    TransportKeys
        ``(tek, tik)``.

    Raises
    ------
    WrapMACError
        WRAP_MAC is wrong (checked first, before anything is unwrapped).
    PolicyMACError
        WRAP_MAC is right but POLICY_MAC does not match ``policy`` under the unwrapped TIK.
    ValueError
        If the blob is not 128 bytes or the policy not a u32.
    """
    session = session_bytes if isinstance(session_bytes, Session) else Session.from_bytes(session_bytes)
    policy = policy_word(policy)
    keys = derive_wrapping_keys(shared_secret, session.nonce)
    if not hmac_sha256_matches(keys.kik, session.wrap_mac, session.wrap_tk):
        raise WrapMACError("WRAP_MAC does not authenticate WRAP_TK under the derived KIK")
    unwrapped = aes_128_ctr(keys.kek, session.wrap_iv, session.wrap_tk)
    tek, tik = unwrapped[:KEY_SIZE], unwrapped[KEY_SIZE:]
    if not hmac_sha256_matches(tik, session.policy_mac, struct.pack("<I", policy)):
        raise PolicyMACError(f"POLICY_MAC does not authenticate policy {policy:#010x} under the TIK")
    return TransportKeys(tek=tek, tik=tik)


def open_session(pdh_private_key, godh_public_key, session_bytes, policy):
    """The firmware's side of LAUNCH_START: Z = ECDH(PDH private, GODH public), then
    :func:`open_session_from_shared_secret`.

    Returns
    -------
    TransportKeys
        ``(tek, tik)``.

    Raises
    ------
    WrapMACError, PolicyMACError
        As :func:`open_session_from_shared_secret`.
    TypeError, ValueError
        For keys that are not EC P-384 keys, or a blob of the wrong size.
    """
    return open_session_from_shared_secret(ecdh_shared_secret(pdh_private_key, godh_public_key),
                                           session_bytes, policy)
