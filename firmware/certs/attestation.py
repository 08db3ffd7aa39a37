"""The legacy SEV attestation report (``sev-reference.md`` §11): 208 bytes, signed by the PEK."""

import dataclasses
import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .codes import (_EC_INT, Algorithm, BadSignature, CertificateError, Usage, WrongSigner, _code, _known, _le,
                    _le_bytes, _u32, _zero)
from .formats import SEVCertificate
from .signing import _ec_private_key
from .verify import Verified, _ecdsa_check, _method


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
                                                 ec.ECDSA(unsigned.sig_algo.hash, deterministic_signing=True)))
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
