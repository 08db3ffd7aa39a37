"""SEV certificates: the formats, signature checks and chain of the SEV key hierarchy.

The two byte formats (the 2084-byte SEV certificate of the CEK, OCA, PEK and PDH, and the AMD CA
certificate of the ARK and ASK), the checks between them (ECDSA P-384, RSA-PSS), the chain
ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH, the signing side for the model's own platform with a
simulated AMD root that marks itself as such, and the legacy attestation report. Byte layouts
follow ``sev-reference.md`` §7 and §11; all crypto is the ``cryptography`` library. See
``firmware/README.md``, "Certificates".
"""

import dataclasses
import enum
import hashlib
import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

__all__ = [
    "CertificateError", "VerificationError", "BadSignature", "WrongSigner", "ChainError",
    "Usage", "Algorithm", "Curve",
    "ECPublicKey", "RSAPublicKey", "EmptySignature", "ECDSASignature", "RSASignature",
    "SEVCertificate", "AMDCertificate", "identify", "load_certificate",
    "Verified", "verify", "CHAIN_LINKS", "certificate_line", "ChainCheck", "ChainReport",
    "verify_chain",
    "make_sev_certificate", "sign_sev_certificate", "make_amd_certificate",
    "SimulatedAMDRoot", "SIMULATED_MARK", "PlatformChain", "build_platform_chain",
    "AttestationReport", "DEFAULT_API_VERSION",
]


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


# --- public keys of a SEV certificate ------------------------------------------------------------

@dataclass(frozen=True)
class ECPublicKey:
    """An EC public key as a SEV certificate holds it: curve u32, Qx[72], Qy[72] (little-endian),
    zero-padded to 1028 bytes.

    Raises
    ------
    CertificateError
        An unknown curve, or (Qx, Qy) not a point on the curve.
    """
    curve: Curve
    x: int
    y: int

    def __post_init__(self):
        _known(Curve, int(self.curve), "pub_key curve")
        object.__setattr__(self, "curve", Curve(self.curve))
        try:
            ec.EllipticCurvePublicNumbers(self.x, self.y, _CURVES[self.curve]()).public_key()
        except ValueError:
            raise CertificateError(f"pub_key: (Qx, Qy) = (0x{self.x:x}, 0x{self.y:x}) is not a "
                                   f"point on {_CURVE_NAMES[self.curve]}") from None

    @classmethod
    def from_cryptography(cls, key):
        """From an ``EllipticCurvePublicKey`` on P-256 or P-384."""
        names = {"secp256r1": Curve.P256, "secp384r1": Curve.P384}
        if key.curve.name not in names:
            raise ValueError(f"SEV certificates hold P-256 or P-384 keys, not {key.curve.name!r}")
        numbers = key.public_numbers()
        return cls(names[key.curve.name], numbers.x, numbers.y)

    def to_cryptography(self):
        return ec.EllipticCurvePublicNumbers(self.x, self.y, _CURVES[self.curve]()).public_key()

    @classmethod
    def _unpack(cls, blob):
        curve = _known(Curve, _u32(blob, 0), "pub_key curve")
        key = cls(curve, _le(blob, 4, _EC_INT), _le(blob, 4 + _EC_INT, _EC_INT))
        _zero(blob, 4 + 2 * _EC_INT, _KEY_SIZE, "pub_key padding (offset within pub_key)")
        return key

    def _pack(self):
        blob = (struct.pack("<I", self.curve) + _le_bytes(self.x, _EC_INT, "pub_key Qx")
                + _le_bytes(self.y, _EC_INT, "pub_key Qy"))
        return blob.ljust(_KEY_SIZE, b"\0")

    def describe(self):
        return _CURVE_NAMES[self.curve]


@dataclass(frozen=True)
class RSAPublicKey:
    """An RSA public key as a SEV certificate holds it: modulus_size (bits) u32, pub_exp[512],
    modulus[512], little-endian. No real SEV certificate carries one (the spec allows an RSA
    OCA); the model accepts 2048 to 4096 bits, a range of its own choosing.

    Raises
    ------
    CertificateError
        A size out of range, a modulus whose length is not ``modulus_bits``, or numbers that
        are not an RSA public key.
    """
    modulus_bits: int
    exponent: int
    modulus: int

    def __post_init__(self):
        if not 2048 <= self.modulus_bits <= 4096:
            raise CertificateError(f"pub_key modulus_size: {self.modulus_bits} bits, the model "
                                   f"accepts 2048..4096")
        if self.modulus.bit_length() != self.modulus_bits:
            raise CertificateError(f"pub_key modulus: {self.modulus.bit_length()} bits, but "
                                   f"modulus_size says {self.modulus_bits}")
        try:
            rsa.RSAPublicNumbers(self.exponent, self.modulus).public_key()
        except ValueError as error:
            raise CertificateError(f"pub_key: not an RSA public key ({error})") from None

    @classmethod
    def from_cryptography(cls, key):
        numbers = key.public_numbers()
        return cls(key.key_size, numbers.e, numbers.n)

    def to_cryptography(self):
        return rsa.RSAPublicNumbers(self.exponent, self.modulus).public_key()

    @classmethod
    def _unpack(cls, blob):
        return cls(_u32(blob, 0), _le(blob, 4, _RSA_INT), _le(blob, 4 + _RSA_INT, _RSA_INT))

    def _pack(self):
        return (struct.pack("<I", self.modulus_bits)
                + _le_bytes(self.exponent, _RSA_INT, "pub_key pub_exp")
                + _le_bytes(self.modulus, _RSA_INT, "pub_key modulus"))

    def describe(self):
        return f"RSA-{self.modulus_bits}"


# --- signature slots -----------------------------------------------------------------------------

@dataclass(frozen=True)
class EmptySignature:
    """An unused slot: usage INVALID, algorithm INVALID, 512 zero bytes."""
    usage: ClassVar[Usage] = Usage.INVALID
    algorithm: ClassVar[Algorithm] = Algorithm.INVALID

    def _pack(self):
        return struct.pack("<II", self.usage, self.algorithm) + bytes(_RSA_INT)

    def describe(self):
        return "empty"


@dataclass(frozen=True)
class ECDSASignature:
    """An ECDSA slot: R[72] then S[72], little-endian, zero-padded to 512 bytes."""
    usage: Usage
    algorithm: Algorithm
    r: int
    s: int

    def __post_init__(self):
        object.__setattr__(self, "usage", Usage(self.usage))
        object.__setattr__(self, "algorithm", Algorithm(self.algorithm))
        if self.algorithm.kind != "ECDSA":
            raise ValueError(f"an ECDSA slot needs an ECDSA algorithm, not {self.algorithm!r}")

    def _pack(self):
        value = _le_bytes(self.r, _EC_INT, "sig R") + _le_bytes(self.s, _EC_INT, "sig S")
        return struct.pack("<II", self.usage, self.algorithm) + value.ljust(_RSA_INT, b"\0")

    def describe(self):
        return f"{self.usage.name} {self.algorithm.name}"


@dataclass(frozen=True)
class RSASignature:
    """An RSA-PSS slot: the signature as a 512-byte little-endian integer."""
    usage: Usage
    algorithm: Algorithm
    value: int

    def __post_init__(self):
        object.__setattr__(self, "usage", Usage(self.usage))
        object.__setattr__(self, "algorithm", Algorithm(self.algorithm))
        if self.algorithm.kind != "RSA":
            raise ValueError(f"an RSA slot needs an RSA algorithm, not {self.algorithm!r}")

    def _pack(self):
        return (struct.pack("<II", self.usage, self.algorithm)
                + _le_bytes(self.value, _RSA_INT, "sig"))

    def describe(self):
        return f"{self.usage.name} {self.algorithm.name}"


def _unpack_slot(data, offset, number):
    field = f"sig{number}"
    usage = _known(Usage, _u32(data, offset), f"{field}_usage")
    algorithm = _known(Algorithm, _u32(data, offset + 4), f"{field}_algo")
    start = offset + 8
    if usage is Usage.INVALID or algorithm is Algorithm.INVALID:
        if (usage is Usage.INVALID) != (algorithm is Algorithm.INVALID):
            raise CertificateError(f"{field}: usage {_code(Usage, usage)} with algo "
                                   f"{_code(Algorithm, algorithm)}; an empty slot has both "
                                   f"INVALID")
        _zero(data, start, start + _RSA_INT, f"{field} (empty slot)")
        return EmptySignature()
    if algorithm.kind == "ECDH":
        raise CertificateError(f"{field}_algo: {_code(Algorithm, algorithm)} is key agreement, "
                               f"it cannot sign")
    if algorithm.kind == "RSA":
        return RSASignature(usage, algorithm, _le(data, start, _RSA_INT))
    _zero(data, start + 2 * _EC_INT, start + _RSA_INT, f"{field} padding after R and S")
    return ECDSASignature(usage, algorithm, _le(data, start, _EC_INT),
                          _le(data, start + _EC_INT, _EC_INT))


# --- the SEV certificate (§7.2) ------------------------------------------------------------------

@dataclass(frozen=True)
class SEVCertificate:
    """A SEV certificate (CEK, OCA, PEK or PDH): 2084 bytes, signed body = bytes 0..0x413.

    ``from_bytes`` accepts exactly what ``to_bytes`` produces: reserved and padding bytes must be
    zero, so every accepted certificate round-trips byte for byte and no byte is ignored.
    """
    usage: Usage
    algorithm: Algorithm
    public_key: ECPublicKey | RSAPublicKey
    api_major: int = 0
    api_minor: int = 0
    signatures: tuple = (EmptySignature(), EmptySignature())

    VERSION: ClassVar[int] = 1
    SIZE: ClassVar[int] = _SEV_SIZE
    BODY_SIZE: ClassVar[int] = _SEV_BODY

    def __post_init__(self):
        usage = _known(Usage, int(self.usage), "pub_key_usage")
        if usage not in _SEV_USAGES:
            raise CertificateError(f"pub_key_usage: {_code(Usage, usage)} is not a SEV "
                                   f"certificate usage (OCA, PEK, PDH, CEK)")
        algorithm = _known(Algorithm, int(self.algorithm), "pub_key_algo")
        expected = RSAPublicKey if algorithm.kind == "RSA" else ECPublicKey
        if algorithm is Algorithm.INVALID or not isinstance(self.public_key, expected):
            raise CertificateError(f"pub_key_algo: {_code(Algorithm, algorithm)} does not fit "
                                   f"a {type(self.public_key).__name__}")
        for name in ("api_major", "api_minor"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise CertificateError(f"{name}: {getattr(self, name)!r} is not a byte")
        slots = tuple(self.signatures)
        if len(slots) != 2 or not all(isinstance(slot, (EmptySignature, ECDSASignature,
                                                        RSASignature)) for slot in slots):
            raise ValueError(f"signatures must be two slots, not {self.signatures!r}")
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "signatures", slots)

    @classmethod
    def from_bytes(cls, data):
        """Parse 2084 bytes strictly.

        Raises
        ------
        CertificateError
            Wrong size or version, an unknown usage, algorithm or curve, nonzero reserved or
            padding bytes, a mixed empty slot, or a key that is not a valid public key.
        """
        data = bytes(data)
        if len(data) != _SEV_SIZE:
            raise CertificateError(f"SEV certificate: {len(data)} bytes, must be {_SEV_SIZE} "
                                   f"(0x{_SEV_SIZE:x})")
        version = _u32(data, 0)
        if version != cls.VERSION:
            raise CertificateError(f"SEV certificate version: {version}, must be 1")
        _zero(data, 6, 8, "reserved")
        algorithm = _known(Algorithm, _u32(data, 0x0C), "pub_key_algo")
        if algorithm is Algorithm.INVALID:
            raise CertificateError("pub_key_algo: INVALID (0x0), a certificate needs a key")
        blob = data[_KEY_OFFSET:_KEY_OFFSET + _KEY_SIZE]
        key = (RSAPublicKey if algorithm.kind == "RSA" else ECPublicKey)._unpack(blob)
        return cls(usage=_known(Usage, _u32(data, 8), "pub_key_usage"), algorithm=algorithm,
                   public_key=key, api_major=data[4], api_minor=data[5],
                   signatures=tuple(_unpack_slot(data, offset, number)
                                    for number, offset in enumerate(_SLOT_OFFSETS, 1)))

    def body(self):
        """The signed bytes: 0x000..0x413."""
        return (struct.pack("<IBBHII", self.VERSION, self.api_major, self.api_minor, 0,
                            self.usage, self.algorithm) + self.public_key._pack())

    def to_bytes(self):
        return self.body() + b"".join(slot._pack() for slot in self.signatures)

    @property
    def role(self):
        return self.usage.name

    def describe(self):
        """One line: API version, key, slots."""
        slots = ", ".join(f"sig{number} {slot.describe()}"
                          for number, slot in enumerate(self.signatures, 1))
        return (f"SEV cert, API {self.api_major}.{self.api_minor}, "
                f"{self.algorithm.name} {self.public_key.describe()}, {slots}")

    def with_signature(self, number, signature):
        """A copy with slot ``number`` (1 or 2) replaced."""
        if number not in (1, 2):
            raise ValueError(f"signature slot must be 1 or 2, not {number!r}")
        slots = list(self.signatures)
        slots[number - 1] = signature
        return dataclasses.replace(self, signatures=tuple(slots))


# --- the AMD CA certificate (§7.3) ---------------------------------------------------------------

@dataclass(frozen=True)
class AMDCertificate:
    """An AMD CA certificate (ARK or ASK): 64 + 3n bytes for an n-byte RSA key, signed region
    ``[0, 0x40 + 2n)``. Key IDs are kept in file byte order.

    Raises
    ------
    CertificateError
        From ``from_bytes`` and the constructor: see :meth:`from_bytes`.
    """
    usage: Usage
    key_id: bytes
    certifying_id: bytes
    bits: int
    exponent: int
    modulus: int
    signature: int = 0

    VERSION: ClassVar[int] = 1

    def __post_init__(self):
        usage = _known(Usage, int(self.usage), "key_usage")
        if usage not in _AMD_USAGES:
            raise CertificateError(f"key_usage: {_code(Usage, usage)} is not ARK (0x0) or "
                                   f"ASK (0x13)")
        object.__setattr__(self, "usage", usage)
        for name in ("key_id", "certifying_id"):
            if len(getattr(self, name)) != 16:
                raise CertificateError(f"{name}: {len(getattr(self, name))} bytes, must be 16")
        if self.bits not in _AMD_BITS:
            raise CertificateError(f"modulus_size: {self.bits} bits, must be 2048 or 4096")
        if self.modulus.bit_length() != self.bits:
            raise CertificateError(f"modulus: {self.modulus.bit_length()} bits, but "
                                   f"modulus_size says {self.bits}")
        try:
            rsa.RSAPublicNumbers(self.exponent, self.modulus).public_key()
        except ValueError as error:
            raise CertificateError(f"pub_exp/modulus: not an RSA public key ({error})") from None

    @classmethod
    def size_for(cls, bits):
        return _AMD_HEADER + 3 * (bits // 8)

    @classmethod
    def from_bytes(cls, data):
        """Parse 832 (RSA-2048) or 1600 (RSA-4096) bytes strictly.

        Raises
        ------
        CertificateError
            Wrong version, an unknown key_usage, nonzero reserved bytes, key sizes other than
            2048 or 4096 (or unequal ones), a length that does not match them (AMD's published
            Naples ARK lacked its signature), or numbers that are not an RSA public key.
        """
        data = bytes(data)
        if len(data) < _AMD_HEADER:
            raise CertificateError(f"AMD CA certificate: {len(data)} bytes, shorter than the "
                                   f"64-byte header")
        version = _u32(data, 0)
        if version != cls.VERSION:
            raise CertificateError(f"AMD CA certificate version: {version}, must be 1")
        usage = _known(Usage, _u32(data, 0x24), "key_usage")
        _zero(data, 0x28, 0x38, "reserved")
        exponent_bits, bits = _u32(data, 0x38), _u32(data, 0x3C)
        for name, value in (("pub_exp_size", exponent_bits), ("modulus_size", bits)):
            if value not in _AMD_BITS:
                raise CertificateError(f"{name}: {value} bits, must be 2048 or 4096")
        if exponent_bits != bits:
            # Every known AMD CA certificate has them equal; the layout of unequal sizes is not
            # in any source the model follows, so it is refused rather than guessed.
            raise CertificateError(f"pub_exp_size {exponent_bits} != modulus_size {bits}")
        n = bits // 8
        size = cls.size_for(bits)
        if len(data) != size:
            hint = ": the signature is missing" if len(data) == _AMD_HEADER + 2 * n else ""
            raise CertificateError(f"AMD CA certificate: {len(data)} bytes, but an RSA-{bits} "
                                   f"one is {size} (64 + 3 x {n}){hint}")
        return cls(usage=usage, key_id=data[0x04:0x14], certifying_id=data[0x14:0x24],
                   bits=bits, exponent=_le(data, _AMD_HEADER, n),
                   modulus=_le(data, _AMD_HEADER + n, n),
                   signature=_le(data, _AMD_HEADER + 2 * n, n))

    def body(self):
        """The signed bytes: ``[0, 0x40 + 2n)``."""
        n = self.bits // 8
        return (struct.pack("<I", self.VERSION) + self.key_id + self.certifying_id
                + struct.pack("<I", self.usage) + bytes(16)
                + struct.pack("<II", self.bits, self.bits)
                + _le_bytes(self.exponent, n, "pub_exp") + _le_bytes(self.modulus, n, "modulus"))

    def to_bytes(self):
        return self.body() + _le_bytes(self.signature, self.bits // 8, "signature")

    def public_key(self):
        return rsa.RSAPublicNumbers(self.exponent, self.modulus).public_key()

    @property
    def role(self):
        return self.usage.name

    @property
    def is_simulated(self):
        """True when a key ID says the sevlab simulated root made it (never true for AMD's)."""
        return (self.key_id.startswith(_SIMULATED_PREFIX)
                or self.certifying_id.startswith(_SIMULATED_PREFIX))

    def describe(self):
        issuer = ("self-certified" if self.certifying_id == self.key_id
                  else f"certified by {_printable(self.certifying_id)}")
        text = f"AMD CA cert, RSA-{self.bits}, key_id {_printable(self.key_id)}, {issuer}"
        return text + (f"; {SIMULATED_MARK}" if self.is_simulated else "")


# --- identification ------------------------------------------------------------------------------

def identify(data):
    """The role of a certificate, from its own bytes: a 2084-byte blob is a SEV certificate and
    its ``pub_key_usage`` (offset 0x8) says CEK, OCA, PEK or PDH; anything else must be an AMD CA
    certificate whose ``key_usage`` (offset 0x24) says ARK or ASK.

    Returns
    -------
    Usage
        The role. Only the identifying fields are checked here; :func:`load_certificate`
        parses the rest.

    Raises
    ------
    CertificateError
        Neither format.
    """
    data = bytes(data)
    if len(data) < 0x28:
        raise CertificateError(f"{len(data)} bytes: too short for a SEV certificate (2084) or an "
                               f"AMD CA certificate (832 or 1600)")
    version = _u32(data, 0)
    if version != 1:
        raise CertificateError(f"{len(data)} bytes with version 0x{version:x} at offset 0: not "
                               f"a SEV or AMD CA certificate (both have version 1)")
    sev_usage, amd_usage = _u32(data, 0x08), _u32(data, 0x24)
    if len(data) == _SEV_SIZE:
        usage = _known(Usage, sev_usage, "SEV certificate pub_key_usage")
        if usage not in _SEV_USAGES:
            raise CertificateError(f"SEV certificate pub_key_usage: {_code(Usage, usage)} is not "
                                   f"OCA, PEK, PDH or CEK")
        return usage
    if amd_usage in _AMD_USAGES:
        return Usage(amd_usage)
    if sev_usage in _SEV_USAGES:
        raise CertificateError(f"SEV certificate ({Usage(sev_usage).name}): {len(data)} bytes, "
                               f"must be {_SEV_SIZE}")
    raise CertificateError(f"{len(data)} bytes: not a SEV certificate (2084 bytes) and key_usage "
                           f"{_code(Usage, amd_usage)} at 0x24 is not ARK (0x0) or ASK (0x13)")


def load_certificate(data):
    """Identify and parse: a :class:`SEVCertificate` or an :class:`AMDCertificate`.

    Raises
    ------
    CertificateError
        See :func:`identify` and the two ``from_bytes``.
    """
    usage = identify(data)
    return (AMDCertificate if usage in _AMD_USAGES else SEVCertificate).from_bytes(data)


# --- verification --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verified:
    """One signature that verified: who signed whom, in which slot (SEV certificates only),
    with which method."""
    child: str
    parent: str
    slot: int | None
    method: str
    self_signed: bool = False
    simulated: bool = False     # an AMD CA certificate of the simulated root took part

    def __str__(self):
        what = (f"{self.child} self-signed" if self.self_signed
                else f"{self.child} signed by {self.parent}")
        slot = "" if self.slot is None else f"slot {self.slot}, "
        mark = f" ({SIMULATED_MARK})" if self.simulated else ""
        return f"{what}: {slot}{self.method}{mark}"


def _rsa_check(public_key, signature, data, hash_algorithm):
    n = (public_key.key_size + 7) // 8
    if signature >= public_key.public_numbers().n:
        raise BadSignature("signature is not smaller than the modulus")
    try:
        public_key.verify(signature.to_bytes(n, "big"), data, _pss(hash_algorithm),
                          hash_algorithm)
    except InvalidSignature:
        raise BadSignature("bad signature") from None


def _ecdsa_check(public_key, r, s, data, hash_algorithm):
    try:
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_algorithm))
    except InvalidSignature:
        raise BadSignature("bad signature") from None


def _method(key, hash_algorithm):
    if isinstance(key, (RSAPublicKey, AMDCertificate)):
        bits = key.modulus_bits if isinstance(key, RSAPublicKey) else key.bits
        return f"RSA-{bits} PSS {_hash_name(hash_algorithm)}"
    return f"ECDSA {key.describe()} {_hash_name(hash_algorithm)}"


def _same(a, b):
    return a is b or a.to_bytes() == b.to_bytes()


def _verify_amd(child, parent):
    if parent.usage is not Usage.ARK:
        raise WrongSigner(f"{child.role} not signed by {parent.role}: only the ARK signs AMD CA "
                          f"certificates")
    if child.certifying_id != parent.key_id:
        raise WrongSigner(f"{child.role} certifying_id {child.certifying_id.hex()} is not the "
                          f"ARK's key_id {parent.key_id.hex()}")
    if child.usage is Usage.ARK and child.key_id != child.certifying_id:
        raise WrongSigner(f"ARK key_id {child.key_id.hex()} != certifying_id "
                          f"{child.certifying_id.hex()}: an ARK certifies itself")
    hash_algorithm = _amd_hash(parent.bits)
    method = _method(parent, hash_algorithm)
    try:
        _rsa_check(parent.public_key(), child.signature, child.body(), hash_algorithm)
    except BadSignature as error:
        raise BadSignature(f"{child.role} not signed by {parent.role}: {error} "
                           f"({method})") from None
    return Verified(child.role, parent.role, None, method, self_signed=_same(child, parent),
                    simulated=child.is_simulated or parent.is_simulated)


def _check_slot(child, parent, slot):
    """Check one slot; returns the method text or raises BadSignature / WrongSigner."""
    hash_algorithm = slot.algorithm.hash
    if isinstance(parent, AMDCertificate):
        if not isinstance(slot, RSASignature):
            raise WrongSigner(f"{slot.algorithm.name} slot, but the ASK's key is RSA")
        if hash_algorithm.name != _amd_hash(parent.bits).name:
            raise WrongSigner(f"{slot.algorithm.name} slot, but an RSA-{parent.bits} ASK signs "
                              f"with {_hash_name(_amd_hash(parent.bits))}")
        method = _method(parent, hash_algorithm)
        _rsa_check(parent.public_key(), slot.value, child.body(), hash_algorithm)
        return method
    key = parent.public_key
    if isinstance(slot, RSASignature) != isinstance(key, RSAPublicKey):
        raise WrongSigner(f"{slot.algorithm.name} slot, but the {parent.role} key is "
                          f"{key.describe()}")
    method = _method(key, hash_algorithm)
    if isinstance(slot, RSASignature):
        _rsa_check(key.to_cryptography(), slot.value, child.body(), hash_algorithm)
    else:
        _ecdsa_check(key.to_cryptography(), slot.r, slot.s, child.body(), hash_algorithm)
    return method


def _verify_sev(child, parent):
    what = f"{child.role} not signed by {parent.role}"
    if isinstance(parent, AMDCertificate) and parent.usage is not Usage.ASK:
        raise WrongSigner(f"{what}: of the AMD keys only the ASK signs SEV certificates")
    if isinstance(parent, SEVCertificate) and parent.algorithm.kind == "ECDH":
        raise WrongSigner(f"{what}: the {parent.role} key is {parent.algorithm.name}, a "
                          f"key-agreement key")
    candidates = [(number, slot) for number, slot in enumerate(child.signatures, 1)
                  if not isinstance(slot, EmptySignature) and slot.usage == parent.usage]
    if not candidates:
        slots = ", ".join(f"sig{number} {slot.describe()}"
                          for number, slot in enumerate(child.signatures, 1))
        raise WrongSigner(f"{what}: no signature slot has usage {parent.role} ({slots})")
    failures, bad = [], False
    for number, slot in candidates:
        try:
            method = _check_slot(child, parent, slot)
        except BadSignature as error:
            bad = True
            failures.append(f"slot {number}: {error} ({_method_of_slot(parent, slot)})")
        except WrongSigner as error:
            failures.append(f"slot {number}: {error}")
        else:
            return Verified(child.role, parent.role, number, method,
                            self_signed=_same(child, parent),
                            simulated=getattr(parent, "is_simulated", False))
    raise (BadSignature if bad else WrongSigner)(f"{what}: {'; '.join(failures)}")


def _method_of_slot(parent, slot):
    key = parent if isinstance(parent, AMDCertificate) else parent.public_key
    return _method(key, slot.algorithm.hash)


def verify(child, parent):
    """Check that ``parent``'s key signed ``child``.

    A SEV certificate under a SEV certificate: each non-empty slot whose usage is the parent's
    is tried (ECDSA over SHA-256 or SHA-384 of the body as the slot's algorithm says, or RSA-PSS
    for an RSA key). A SEV certificate (the CEK) under the ASK: RSA-PSS over the body, SHA-256 for
    an RSA-2048 ASK and SHA-384 for RSA-4096, and the slot's algorithm must say the same. An AMD
    CA certificate under the ARK: RSA-PSS over ``[0, 0x40 + 2n)``, hash by the ARK's size.
    ``verify(x, x)`` checks a self-signature (ARK, OCA).

    Returns
    -------
    Verified
        Which slot verified and how.

    Raises
    ------
    BadSignature
        A signature check ran and failed.
    WrongSigner
        No check could run: no slot for the parent's usage, wrong certifying ID, an algorithm
        that does not fit the parent's key, or a parent that never signs this kind.
    """
    if isinstance(child, AMDCertificate):
        if not isinstance(parent, AMDCertificate):
            raise WrongSigner(f"{child.role} not signed by {parent.role}: only the ARK signs AMD "
                              f"CA certificates")
        return _verify_amd(child, parent)
    if not isinstance(child, SEVCertificate) or not isinstance(parent, (SEVCertificate,
                                                                        AMDCertificate)):
        raise TypeError(f"verify() takes certificates, not {type(child).__name__} and "
                        f"{type(parent).__name__}")
    return _verify_sev(child, parent)


# --- the chain (§7.4) ----------------------------------------------------------------------------

CHAIN_LINKS = ((Usage.ARK, Usage.ARK), (Usage.ASK, Usage.ARK), (Usage.CEK, Usage.ASK),
               (Usage.OCA, Usage.OCA), (Usage.PEK, Usage.OCA), (Usage.PEK, Usage.CEK),
               (Usage.PDH, Usage.PEK))
"""(child, parent) for every signature of the chain ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH,
self-signatures included."""

_CHAIN_ROLES = (Usage.ARK, Usage.ASK, Usage.CEK, Usage.OCA, Usage.PEK, Usage.PDH)


@dataclass(frozen=True)
class ChainCheck:
    """One signature of the chain: a :class:`Verified` or the error."""
    child: Usage
    parent: Usage
    result: Verified | None = None
    error: VerificationError | None = None

    @property
    def ok(self):
        return self.result is not None

    def __str__(self):
        if self.ok:
            return f"ok    {self.result}"
        return f"FAIL  {self.error}"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: the certificates by role, every signature checked,
    and the roles missing."""
    certificates: dict
    checks: tuple
    missing: tuple

    @property
    def ok(self):
        return not self.missing and all(check.ok for check in self.checks)

    @property
    def simulated(self):
        return any(getattr(cert, "is_simulated", False) for cert in self.certificates.values())

    def lines(self, names=None):
        """The report, one line per certificate, per missing role, per signature and a verdict.
        ``names`` maps a role to a label (a file name)."""
        names = names or {}
        out = []
        for role, cert in self.certificates.items():
            out.append(certificate_line(cert, names.get(role)))
        for role in self.missing:
            links = [f"{parent.name} -> {child.name}" for child, parent in CHAIN_LINKS
                     if role in (child, parent)]
            out.append(f"FAIL  {role.name} missing: {', '.join(links)} not checked")
        out.extend(str(check) for check in self.checks)
        if self.ok:
            anchor = (SIMULATED_MARK if self.simulated
                      else "the ARK above; compare it with AMD's published ARK")
            out.append(f"chain verified: ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH "
                       f"({len(self.checks)} signatures); trust anchor: {anchor}")
        else:
            failed = sum(not check.ok for check in self.checks)
            parts = [f"{failed} of {len(self.checks)} signatures failed"] if failed else []
            if self.missing:
                parts.append("missing " + ", ".join(role.name for role in self.missing))
            out.append("chain FAILED: " + "; ".join(parts)
                       + (f" ({SIMULATED_MARK})" if self.simulated else ""))
        return out


def certificate_line(cert, label=None):
    """One line for a certificate: role, label (a file name), the first 16 hex digits of the
    SHA-256 of its bytes (as ``sev-data/README.md`` lists them) and its description."""
    digest = hashlib.sha256(cert.to_bytes()).hexdigest()[:16]
    where = f"{label} " if label else ""
    return f"{cert.role:<5} {where}(sha256 {digest}): {cert.describe()}"


def verify_chain(certificates):
    """Verify ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH (§7.4) from certificates given in any
    order: ARK and OCA self-signed, ASK by the ARK, CEK by the ASK, PEK by the OCA and by the
    CEK, PDH by the PEK. Every link whose two ends are present is checked; a missing role is
    reported and fails the chain.

    Returns
    -------
    ChainReport

    Raises
    ------
    ChainError
        Two certificates for one role.
    """
    by_role = {}
    for cert in certificates:
        role = cert.usage
        if role in by_role:
            raise ChainError(f"two {role.name} certificates: a chain has one of each role")
        by_role[role] = cert
    checks = []
    for child, parent in CHAIN_LINKS:
        if child in by_role and parent in by_role:
            try:
                checks.append(ChainCheck(child, parent, result=verify(by_role[child],
                                                                      by_role[parent])))
            except VerificationError as error:
                checks.append(ChainCheck(child, parent, error=error))
    missing = tuple(role for role in _CHAIN_ROLES if role not in by_role)
    ordered = {role: by_role[role] for role in _CHAIN_ROLES if role in by_role}
    return ChainReport(ordered, tuple(checks), missing)


# --- signing -------------------------------------------------------------------------------------

DEFAULT_API_VERSION = (0, 24)
"""The API version written into the model's certificates unless the caller passes its own: the
newest legacy SEV API that ``sev-reference.md`` covers."""


def _ec_private_key(key, name):
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
        raise ValueError(f"{name} must be an ECDSA P-384 private key, not {key!r}")
    return key


def make_sev_certificate(*, usage, public_key, api_version=DEFAULT_API_VERSION, algorithm=None):
    """An unsigned SEV certificate (both slots empty) for an EC P-384 public key.

    ``algorithm`` defaults to ECDH_SHA256 for a PDH and ECDSA_SHA256 otherwise, as on the real
    certificates.

    Raises
    ------
    ValueError
        A usage that is not OCA, PEK, PDH or CEK, a key that is not P-384, or a bad API version.
    """
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
            public_key.curve.name != "secp384r1":
        raise ValueError(f"public_key must be an EC P-384 public key, not {public_key!r}")
    if algorithm is None:
        algorithm = Algorithm.ECDH_SHA256 if usage == Usage.PDH else Algorithm.ECDSA_SHA256
    major, minor = api_version
    return SEVCertificate(usage=usage, algorithm=algorithm,
                          public_key=ECPublicKey.from_cryptography(public_key),
                          api_major=major, api_minor=minor)


def sign_sev_certificate(certificate, signing_key, *, usage, slot=None, algorithm=None):
    """A copy of ``certificate`` with one more signature over its body.

    Parameters
    ----------
    signing_key
        An EC P-384 private key (ECDSA; ``algorithm`` ECDSA_SHA256 by default, or ECDSA_SHA384)
        or an RSA private key (the ASK: RSA-PSS, RSA_SHA256 for 2048 bits, RSA_SHA384 for 4096).
    usage : Usage
        The signer's usage, written into the slot (``Usage.ASK`` for the ASK).
    slot : 1, 2 or None
        The slot to fill; ``None`` takes the first empty one.

    Raises
    ------
    ValueError
        The slot is taken, both are, or the key and algorithm do not fit.
    """
    usage = Usage(usage)
    if slot is None:
        free = [n for n, s in enumerate(certificate.signatures, 1) if isinstance(s, EmptySignature)]
        if not free:
            raise ValueError(f"{certificate.role} has no empty signature slot")
        slot = free[0]
    elif slot not in (1, 2):
        raise ValueError(f"signature slot must be 1 or 2, not {slot!r}")
    elif not isinstance(certificate.signatures[slot - 1], EmptySignature):
        raise ValueError(f"{certificate.role} slot {slot} is already signed")
    body = certificate.body()
    if isinstance(signing_key, rsa.RSAPrivateKey):
        if signing_key.key_size not in _AMD_BITS:
            raise ValueError(f"RSA signing key must be 2048 or 4096 bits, not "
                             f"{signing_key.key_size}")
        expected = Algorithm.RSA_SHA256 if signing_key.key_size == 2048 else Algorithm.RSA_SHA384
        if algorithm not in (None, expected):
            raise ValueError(f"an RSA-{signing_key.key_size} key signs with {expected.name}, "
                             f"not {algorithm!r}")
        raw = signing_key.sign(body, _pss(expected.hash), expected.hash)
        signature = RSASignature(usage, expected, int.from_bytes(raw, "big"))
    else:
        _ec_private_key(signing_key, "signing_key")
        algorithm = Algorithm(algorithm or Algorithm.ECDSA_SHA256)
        if algorithm.kind != "ECDSA":
            raise ValueError(f"an EC key signs with ECDSA_SHA256 or ECDSA_SHA384, not "
                             f"{algorithm.name}")
        r, s = decode_dss_signature(signing_key.sign(body, ec.ECDSA(algorithm.hash)))
        signature = ECDSASignature(usage, algorithm, r, s)
    return certificate.with_signature(slot, signature)


def make_amd_certificate(*, usage, key_id, certifying_id, public_key, signing_key):
    """An AMD CA certificate (ARK or ASK) for an RSA public key, signed with RSA-PSS by
    ``signing_key`` (SHA-256 for a 2048-bit signer, SHA-384 for 4096).

    Raises
    ------
    ValueError
        Key sizes other than 2048 or 4096, key IDs that are not 16 bytes, or an ARK whose
        signing key is not its own key or whose certifying ID is not its key ID.
    """
    for name, key in (("public_key", public_key), ("signing_key", signing_key)):
        if key.key_size not in _AMD_BITS:
            raise ValueError(f"{name} must be RSA-2048 or RSA-4096, not {key.key_size} bits")
    if Usage(usage) is Usage.ARK:
        if signing_key.public_key().public_numbers() != public_key.public_numbers():
            raise ValueError("an ARK is signed by its own key")
        if certifying_id != key_id:
            raise ValueError("an ARK's certifying_id is its key_id")
    numbers = public_key.public_numbers()
    unsigned = AMDCertificate(usage=usage, key_id=bytes(key_id),
                              certifying_id=bytes(certifying_id), bits=public_key.key_size,
                              exponent=numbers.e, modulus=numbers.n)
    hash_algorithm = _amd_hash(signing_key.key_size)
    raw = signing_key.sign(unsigned.body(), _pss(hash_algorithm), hash_algorithm)
    return dataclasses.replace(unsigned, signature=int.from_bytes(raw, "big"))


class SimulatedAMDRoot:
    """An ARK and an ASK made by sevlab, standing in for AMD's, which nobody outside AMD can sign
    with. Their key IDs read ``SEVLAB SIMULATED`` (ARK) and ``SEVLAB SIM ASK 1`` (ASK) in ASCII,
    so every description and chain report of anything under them says
    "simulated AMD root (sevlab), not AMD's".

    :meth:`generate` makes RSA-4096 keys signing with SHA-384, as AMD's roots from Rome on (about
    a second per key); ``bits=2048`` gives Naples' RSA-2048 with SHA-256, which the tests use
    where they need a fresh root quickly.

    Parameters
    ----------
    ark_key, ask_key : rsa.RSAPrivateKey
        Both 2048 or both 4096 bits.

    Raises
    ------
    ValueError
        Keys of other or of different sizes.
    """

    ARK_KEY_ID = b"SEVLAB SIMULATED"
    ASK_KEY_ID = b"SEVLAB SIM ASK 1"

    def __init__(self, *, ark_key, ask_key):
        if ark_key.key_size != ask_key.key_size or ark_key.key_size not in _AMD_BITS:
            raise ValueError(f"ARK and ASK keys must both be 2048 or both 4096 bits, not "
                             f"{ark_key.key_size} and {ask_key.key_size}")
        self._ask_key = ask_key
        self._ark = make_amd_certificate(usage=Usage.ARK, key_id=self.ARK_KEY_ID,
                                         certifying_id=self.ARK_KEY_ID,
                                         public_key=ark_key.public_key(), signing_key=ark_key)
        self._ask = make_amd_certificate(usage=Usage.ASK, key_id=self.ASK_KEY_ID,
                                         certifying_id=self.ARK_KEY_ID,
                                         public_key=ask_key.public_key(), signing_key=ark_key)

    @classmethod
    def generate(cls, *, bits=4096):
        """A fresh root: two new RSA keys of ``bits`` (2048 or 4096), exponent 65537."""
        if bits not in _AMD_BITS:
            raise ValueError(f"bits must be 2048 or 4096, not {bits!r}")
        return cls(ark_key=rsa.generate_private_key(public_exponent=65537, key_size=bits),
                   ask_key=rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @property
    def ark(self):
        return self._ark

    @property
    def ask(self):
        return self._ask

    @property
    def bits(self):
        return self._ark.bits

    def sign_cek(self, cek):
        """The CEK certificate with the ASK's signature in its first empty slot."""
        if cek.usage is not Usage.CEK:
            raise ValueError(f"the ASK signs CEK certificates, not a {cek.role}")
        return sign_sev_certificate(cek, self._ask_key, usage=Usage.ASK)

    def describe(self):
        hash_name = _hash_name(_amd_hash(self.bits))
        return (f"{SIMULATED_MARK}: ARK key_id {_printable(self.ARK_KEY_ID)}, ASK key_id "
                f"{_printable(self.ASK_KEY_ID)}, RSA-{self.bits} PSS {hash_name}")


@dataclass(frozen=True)
class PlatformChain:
    """A platform's whole chain, as :func:`build_platform_chain` makes it."""
    ark: AMDCertificate
    ask: AMDCertificate
    cek: SEVCertificate
    oca: SEVCertificate
    pek: SEVCertificate
    pdh: SEVCertificate

    FILE_NAMES: ClassVar[tuple] = ("ark.cert", "ask.cert", "cek.cert", "oca.cert", "pek.cert",
                                   "pdh.cert")

    def certificates(self):
        return (self.ark, self.ask, self.cek, self.oca, self.pek, self.pdh)

    def files(self):
        """``{file name: bytes}``, named as AMD's tools and virtee name them."""
        return {name: cert.to_bytes() for name, cert in zip(self.FILE_NAMES,
                                                             self.certificates())}

    def verify(self):
        return verify_chain(self.certificates())


def build_platform_chain(root, *, cek_key, oca_key, pek_key, pdh_key,
                         api_version=DEFAULT_API_VERSION):
    """A platform's chain from its private keys: CEK signed by the root's ASK, self-signed OCA,
    PEK signed by the OCA (slot 1) and the CEK (slot 2), PDH signed by the PEK; the slot layout
    of the real Naples and Rome chains.

    Parameters
    ----------
    root : SimulatedAMDRoot
    cek_key, oca_key, pek_key, pdh_key : ec.EllipticCurvePrivateKey
        P-384 keys; the firmware model passes its persistent ones.

    Raises
    ------
    ValueError
        A key that is not P-384.
    """
    keys = {"cek_key": cek_key, "oca_key": oca_key, "pek_key": pek_key, "pdh_key": pdh_key}
    for name, key in keys.items():
        _ec_private_key(key, name)

    def unsigned(usage, key):
        return make_sev_certificate(usage=usage, public_key=key.public_key(),
                                    api_version=api_version)

    cek = root.sign_cek(unsigned(Usage.CEK, cek_key))
    oca = sign_sev_certificate(unsigned(Usage.OCA, oca_key), oca_key, usage=Usage.OCA)
    pek = sign_sev_certificate(unsigned(Usage.PEK, pek_key), oca_key, usage=Usage.OCA, slot=1)
    pek = sign_sev_certificate(pek, cek_key, usage=Usage.CEK, slot=2)
    pdh = sign_sev_certificate(unsigned(Usage.PDH, pdh_key), pek_key, usage=Usage.PEK)
    return PlatformChain(root.ark, root.ask, cek, oca, pek, pdh)


# --- the legacy attestation report (§11) ---------------------------------------------------------

@dataclass(frozen=True)
class AttestationReport:
    """The legacy SEV ATTESTATION report, 208 bytes: mnonce[16], launch_digest[32], policy u32,
    sig_usage u32, sig_algo u32, reserved u32, R[72] ‖ S[72]. The PEK signs SHA-256 of bytes
    0x00..0x33 (mnonce ‖ launch_digest ‖ policy); ``sig_usage`` and ``sig_algo`` lie outside
    the signed bytes, so :meth:`verify` checks them against the certificate instead.

    Raises
    ------
    CertificateError
        From the constructor and :meth:`from_bytes`: wrong sizes, unknown codes, a non-ECDSA
        algorithm, nonzero reserved bytes.
    """
    mnonce: bytes
    launch_digest: bytes
    policy: int
    r: int = 0
    s: int = 0
    sig_usage: Usage = Usage.PEK
    sig_algo: Algorithm = Algorithm.ECDSA_SHA256

    SIZE: ClassVar[int] = 0xD0
    SIGNED_SIZE: ClassVar[int] = 0x34

    def __post_init__(self):
        if len(self.mnonce) != 16:
            raise CertificateError(f"mnonce: {len(self.mnonce)} bytes, must be 16")
        if len(self.launch_digest) != 32:
            raise CertificateError(f"launch_digest: {len(self.launch_digest)} bytes, must be 32")
        if not 0 <= self.policy < 1 << 32:
            raise CertificateError(f"policy: {self.policy!r} is not a u32")
        object.__setattr__(self, "sig_usage", _known(Usage, int(self.sig_usage), "sig_usage"))
        algo = _known(Algorithm, int(self.sig_algo), "sig_algo")
        if algo.kind != "ECDSA":
            raise CertificateError(f"sig_algo: {_code(Algorithm, algo)}, the report is signed "
                                   f"with ECDSA")
        object.__setattr__(self, "sig_algo", algo)

    @classmethod
    def from_bytes(cls, data):
        """Parse 208 bytes strictly (see the class for what raises)."""
        data = bytes(data)
        if len(data) != cls.SIZE:
            raise CertificateError(f"attestation report: {len(data)} bytes, must be {cls.SIZE}")
        _zero(data, 0x3C, 0x40, "reserved")
        return cls(mnonce=data[0:0x10], launch_digest=data[0x10:0x30], policy=_u32(data, 0x30),
                   sig_usage=_u32(data, 0x34), sig_algo=_u32(data, 0x38),
                   r=_le(data, 0x40, _EC_INT), s=_le(data, 0x40 + _EC_INT, _EC_INT))

    def signed_bytes(self):
        return self.mnonce + self.launch_digest + struct.pack("<I", self.policy)

    def to_bytes(self):
        return (self.signed_bytes() + struct.pack("<III", self.sig_usage, self.sig_algo, 0)
                + _le_bytes(self.r, _EC_INT, "sig R") + _le_bytes(self.s, _EC_INT, "sig S"))

    @classmethod
    def sign(cls, *, mnonce, launch_digest, policy, pek_key, sig_algo=Algorithm.ECDSA_SHA256):
        """A report signed with the PEK's private key (ECDSA P-384)."""
        _ec_private_key(pek_key, "pek_key")
        unsigned = cls(mnonce=bytes(mnonce), launch_digest=bytes(launch_digest), policy=policy,
                       sig_algo=sig_algo)
        r, s = decode_dss_signature(pek_key.sign(unsigned.signed_bytes(),
                                                 ec.ECDSA(unsigned.sig_algo.hash)))
        return dataclasses.replace(unsigned, r=r, s=s)

    def verify(self, pek):
        """Check the report under a PEK certificate.

        Returns
        -------
        Verified

        Raises
        ------
        WrongSigner
            ``pek`` is not a PEK certificate with an ECDSA key, or ``sig_usage`` is not PEK.
        BadSignature
            The ECDSA check failed.
        """
        if not isinstance(pek, SEVCertificate) or pek.usage is not Usage.PEK:
            raise WrongSigner(f"the report is signed by the PEK, not by "
                              f"{getattr(pek, 'role', type(pek).__name__)}")
        if self.sig_usage is not Usage.PEK:
            raise WrongSigner(f"report sig_usage is {_code(Usage, self.sig_usage)}, not PEK")
        if pek.algorithm.kind != "ECDSA":
            raise WrongSigner(f"the PEK key is {pek.algorithm.name}, the report needs ECDSA")
        method = _method(pek.public_key, self.sig_algo.hash)
        try:
            _ecdsa_check(pek.public_key.to_cryptography(), self.r, self.s, self.signed_bytes(),
                         self.sig_algo.hash)
        except BadSignature:
            raise BadSignature(f"report not signed by PEK: bad signature ({method})") from None
        return Verified("report", "PEK", None, method)
