"""The two certificate formats of the SEV key hierarchy, byte-exact (``sev-reference.md`` §7).

The 2084-byte SEV certificate of the CEK, OCA, PEK and PDH (EC P-384 keys, two signature slots)
and the AMD CA certificate of the ARK and ASK (RSA-2048/4096), parsed strictly (unknown codes and
nonzero reserved bytes are errors), and :func:`identify`, which tells one from the other by its
own fields. Their keys and signatures are ``keys.py``'s, their codes ``codes.py``'s.
"""

import dataclasses
import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import rsa

from .codes import (_AMD_BITS, _AMD_HEADER, _AMD_USAGES, _KEY_OFFSET, _KEY_SIZE, _SEV_BODY, _SEV_SIZE,
                    _SEV_USAGES, _SIMULATED_PREFIX, _SLOT_OFFSETS, SIMULATED_MARK, Algorithm,
                    CertificateError, Usage, _code, _known, _le, _le_bytes, _printable, _u32, _zero)
from .keys import ECDSASignature, ECPublicKey, EmptySignature, RSAPublicKey, RSASignature, _unpack_slot


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
