"""Signature checks between SEV and AMD CA certificates and the chain
ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH (``sev-reference.md`` §7.4).

The same code verifies the real AMD chains in ``sev-data`` and the model's own; every check it
makes is reported as a :class:`Verified` line.
"""

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .codes import (SIMULATED_MARK, BadSignature, ChainError, Usage, VerificationError, WrongSigner, _amd_hash,
                    _hash_name, _pss)
from .formats import AMDCertificate, SEVCertificate
from .keys import EmptySignature, RSAPublicKey, RSASignature


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
