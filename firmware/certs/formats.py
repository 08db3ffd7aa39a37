"""The two certificate formats of the SEV key hierarchy, byte-exact (``sev-reference.md`` §7).

The 2084-byte SEV certificate of the CEK, OCA, PEK and PDH (EC P-384 keys, two signature slots)
and the AMD CA certificate of the ARK and ASK (RSA-2048/4096), their public keys and signatures,
strict parsing (unknown codes and nonzero reserved bytes are errors) and :func:`identify`, which
tells one from the other by its own fields.
"""

import dataclasses
import enum
import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


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
