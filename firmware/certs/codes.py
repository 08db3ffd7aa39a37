"""The vocabulary of the SEV certificate formats (``sev-reference.md`` §7): the errors, the usage,
algorithm and curve codes, the sizes and offsets, and the little-endian field helpers the format
modules share."""

import enum
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding


# --- errors --------------------------------------------------------------------------------------

class CertificateError(ValueError):
    """Malformed bytes: the message is one line naming the field and the value found."""


class VerificationError(Exception):
    """A certificate or report does not verify under the key it was checked against."""


class BadSignature(VerificationError):
    """The signature check itself failed: wrong key, or bytes changed after signing."""


class WrongSigner(VerificationError):
    """The parent cannot have made this signature, so no signature check was run: no slot
    carries the parent's usage, the certifying ID is not the parent's key ID, or the algorithm
    does not fit the parent's key."""


class ChainError(VerificationError):
    """The certificates given do not form one chain (two certificates for one role)."""


# --- codes (sev-reference.md §7.2) ---------------------------------------------------------------

class Usage(enum.IntEnum):
    """Key usage codes, shared by both certificate formats and the signature slots."""
    ARK = 0x0000
    ASK = 0x0013
    INVALID = 0x1000
    OCA = 0x1001
    PEK = 0x1002
    PDH = 0x1003
    CEK = 0x1004


class Algorithm(enum.IntEnum):
    """Algorithm codes of a SEV certificate's key and signature slots."""
    INVALID = 0x000
    RSA_SHA256 = 0x001
    ECDSA_SHA256 = 0x002
    ECDH_SHA256 = 0x003
    RSA_SHA384 = 0x101
    ECDSA_SHA384 = 0x102
    ECDH_SHA384 = 0x103

    @property
    def kind(self):
        """``"RSA"``, ``"ECDSA"``, ``"ECDH"`` or ``None`` for INVALID."""
        return None if self is Algorithm.INVALID else self.name.split("_")[0]

    @property
    def hash(self):
        """A fresh ``cryptography`` hash object, or ``None`` for INVALID."""
        if self is Algorithm.INVALID:
            return None
        return hashes.SHA384() if self.name.endswith("SHA384") else hashes.SHA256()


class Curve(enum.IntEnum):
    """EC curve codes of a SEV certificate's key. No source shows a real certificate on P-256."""
    P256 = 1
    P384 = 2


_SEV_USAGES = (Usage.OCA, Usage.PEK, Usage.PDH, Usage.CEK)
_AMD_USAGES = (Usage.ARK, Usage.ASK)
_CURVES = {Curve.P256: ec.SECP256R1, Curve.P384: ec.SECP384R1}
_CURVE_NAMES = {Curve.P256: "P-256", Curve.P384: "P-384"}
_HASH_NAMES = {"sha256": "SHA-256", "sha384": "SHA-384"}

_EC_INT = 72            # Qx, Qy, R, S: little-endian, zero-padded
_RSA_INT = 512          # RSA exponent, modulus and signature in a SEV certificate
_SLOT_SIZE = 4 + 4 + 512
_SEV_BODY = 0x414
_SEV_SIZE = _SEV_BODY + 2 * _SLOT_SIZE
_SLOT_OFFSETS = (0x414, 0x61C)
_KEY_OFFSET, _KEY_SIZE = 0x010, 1028
_AMD_HEADER = 0x40
_AMD_BITS = (2048, 4096)
_SIMULATED_PREFIX = b"SEVLAB SIM"     # the first 10 bytes of both simulated key IDs
SIMULATED_MARK = "simulated AMD root (sevlab), not AMD's"


def _code(cls, value):
    try:
        return f"{cls(value).name} (0x{value:x})"
    except ValueError:
        return f"0x{value:x}"


def _u32(data, offset):
    return struct.unpack_from("<I", data, offset)[0]


def _le(data, offset, size):
    return int.from_bytes(data[offset:offset + size], "little")


def _le_bytes(value, size, field):
    try:
        return value.to_bytes(size, "little")
    except OverflowError:
        raise CertificateError(f"{field}: {value.bit_length()}-bit value does not fit "
                               f"{size} bytes") from None


def _known(cls, value, field):
    try:
        return cls(value)
    except ValueError:
        raise CertificateError(f"{field}: 0x{value:x} is not a known {cls.__name__.lower()} "
                               f"code") from None


def _zero(data, start, end, field):
    for offset in range(start, end):
        if data[offset]:
            raise CertificateError(f"{field}: byte 0x{offset:x} is 0x{data[offset]:02x}, "
                                   f"must be zero")


def _hash_name(hash_algorithm):
    return _HASH_NAMES.get(hash_algorithm.name, hash_algorithm.name)


def _pss(hash_algorithm):
    return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)


def _amd_hash(bits):
    # AMD signs with SHA-256 under a 2048-bit key (Naples) and SHA-384 under a 4096-bit key
    # (Rome onwards); the AMD CA format has no algorithm field, so the key size decides.
    return hashes.SHA256() if bits == 2048 else hashes.SHA384()


def _printable(raw):
    text = raw.hex()
    if all(0x20 <= byte < 0x7F for byte in raw):
        text += f' ("{raw.decode("ascii")}")'
    return text
