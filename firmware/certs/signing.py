"""The signing side: the model platform's certificates and the simulated AMD root.

Real AMD private keys are not available, so :class:`SimulatedAMDRoot` makes its own ARK and ASK;
their key IDs start with ``SEVLAB SIM`` and every line that mentions them carries
:data:`SIMULATED_MARK`, so the chain can never pass for AMD's.
"""

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .codes import _AMD_BITS, SIMULATED_MARK, Algorithm, Usage, _amd_hash, _hash_name, _printable, _pss
from .formats import AMDCertificate, SEVCertificate
from .keys import ECDSASignature, ECPublicKey, EmptySignature, RSASignature
from .verify import verify_chain


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
        r, s = decode_dss_signature(signing_key.sign(body, ec.ECDSA(algorithm.hash, deterministic_signing=True)))
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
