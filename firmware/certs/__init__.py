"""SEV certificates: the formats, signature checks and chain of the SEV key hierarchy.

- :mod:`.codes`: errors, usage/algorithm/curve codes, sizes, the field helpers.
- :mod:`.keys`: the public keys and signature slots inside a SEV certificate.
- :mod:`.formats`: the 2084-byte SEV certificate (CEK, OCA, PEK, PDH) and the AMD CA certificate
  (ARK, ASK), byte-exact (``sev-reference.md`` §7), and :func:`identify`.
- :mod:`.verify`: ECDSA P-384 and RSA-PSS checks and the chain ARK -> ASK -> CEK -> PEK <- OCA,
  PEK -> PDH.
- :mod:`.signing`: the model platform's certificates under a simulated AMD root that marks itself
  as such.
- :mod:`.attestation`: the legacy attestation report (§11).

All crypto is the ``cryptography`` library. The names below are the package's interface; see
``firmware/README.md``, "Certificates".
"""

from .attestation import AttestationReport
from .codes import (SIMULATED_MARK, Algorithm, BadSignature, CertificateError, ChainError, Curve, Usage,
                    VerificationError, WrongSigner)
from .formats import AMDCertificate, SEVCertificate, identify, load_certificate
from .keys import ECDSASignature, ECPublicKey, EmptySignature, RSAPublicKey, RSASignature
from .signing import (DEFAULT_API_VERSION, PlatformChain, SimulatedAMDRoot, build_platform_chain,
                      make_amd_certificate, make_sev_certificate, sign_sev_certificate)
from .verify import (CHAIN_LINKS, ChainCheck, ChainReport, Verified, certificate_line, verify,
                     verify_chain)

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
