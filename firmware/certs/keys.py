"""The public keys and signature slots inside a SEV certificate (``sev-reference.md`` §7.2): EC
P-256/P-384 and RSA keys, empty, ECDSA and RSA signatures, each parsed strictly and packed back
byte for byte."""

import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .codes import (_CURVE_NAMES, _CURVES, _EC_INT, _KEY_SIZE, _RSA_INT, Algorithm, CertificateError, Curve,
                    Usage, _code, _known, _le, _le_bytes, _u32, _zero)


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
