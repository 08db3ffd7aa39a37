"""The guest owner: the party that trusts AMD's root and nobody on the host.

It checks the platform's certificate chain up to the root it trusts, builds the launch session
for that platform's PDH with its own GODH key and fresh transport keys (TEK, TIK), checks the
launch measurement against the digest of the image it sent, and only then packs a secret for
LAUNCH_SECRET. Everything it hands the host is sealed or public: the GODH certificate, the
session blob, the secret packet. It runs on the owner's side of the network, not on the host.
"""

from ..firmware import certs, measurement, secret, session
from ..firmware.entropy import Entropy

__all__ = ["GuestOwner", "OwnerRefused"]


class OwnerRefused(Exception):
    """The owner will not go on: the chain, the root or the measurement did not check."""


class GuestOwner:
    """A guest owner for one launch.

    Parameters
    ----------
    policy : int
        The guest policy it asks for.
    trusted_ark : AMDCertificate
        The root it trusts: AMD's real ARK for a real part; the model's platforms hang from a
        simulated root, which a test or demo owner is told to trust explicitly.
    entropy : Entropy, optional
        The owner's randomness (GODH key, TEK, TIK, nonces); the OS CSPRNG unless a reproducible
        scenario passes a seeded one.
    tek, tik : bytes, optional
        Transport keys the owner already has (sevctl's ``--tek``/``--tik`` files), 16 bytes each.
    """

    def __init__(self, policy, trusted_ark, entropy=None, *, tek=None, tik=None):
        self.policy = policy
        self.trusted_ark = trusted_ark
        self._entropy = entropy or Entropy()
        self._godh_key = self._entropy.ec_private_key()
        self._tek = self._entropy.token_bytes(session.KEY_SIZE) if tek is None else bytes(tek)
        self._tik = self._entropy.token_bytes(session.KEY_SIZE) if tik is None else bytes(tik)
        for name, key in (("TEK", self._tek), ("TIK", self._tik)):
            if len(key) != session.KEY_SIZE:
                raise ValueError(f"the {name} must be {session.KEY_SIZE} bytes, not {len(key)}")
        self.pdh = None
        self.chain_report = None
        self.api = None             # (api_major, api_minor, build) the measurement was made with

    def verify_platform(self, ark, ask, pdh, cert_chain):
        """Check ARK → ASK → CEK → PEK ← OCA, PEK → PDH for the certificates the host passed (its
        PDH_CERT_EXPORT output and the AMD certificates), and that the ARK is the trusted one.

        Returns
        -------
        ChainReport

        Raises
        ------
        OwnerRefused
            A certificate does not parse, a signature or link fails, or the root is not trusted.
        """
        size = certs.SEVCertificate.SIZE
        try:
            pek, oca, cek = (certs.SEVCertificate.from_bytes(cert_chain[n * size:(n + 1) * size])
                             for n in range(3))
            chain = [certs.AMDCertificate.from_bytes(ark), certs.AMDCertificate.from_bytes(ask), cek, oca, pek,
                     certs.SEVCertificate.from_bytes(pdh)]
            report = certs.verify_chain(chain)
        except (certs.CertificateError, certs.ChainError) as error:
            raise OwnerRefused(f"the platform's certificates: {error}") from None
        if not report.ok:
            raise OwnerRefused("the platform's chain does not verify:\n" + "\n".join(report.lines()))
        if chain[0].to_bytes() != self.trusted_ark.to_bytes():
            raise OwnerRefused("the platform's ARK is not the root this owner trusts")
        self.pdh, self._pek, self.chain_report = chain[-1], chain[-2], report
        return report

    def launch_blobs(self):
        """``(godh_cert, session)`` bytes for LAUNCH_START on the verified platform."""
        if self.pdh is None:
            raise OwnerRefused("verify the platform's chain before building a session for it")
        godh = certs.make_sev_certificate(usage=certs.Usage.PDH, public_key=self._godh_key.public_key())
        blob = session.build_session(self._godh_key, self.pdh.public_key.to_cryptography(), self._tek, self._tik,
                                     self.policy, nonce=self._entropy.token_bytes(session.NONCE_SIZE),
                                     iv=self._entropy.token_bytes(session.NONCE_SIZE))
        return godh.to_bytes(), blob.to_bytes()

    def check_measurement(self, launch_measure, api_major, api_minor, build, expected_digest):
        """Check LAUNCH_MEASURE's 48 bytes against the digest of what the owner sent, under the
        firmware version the platform reported. Raises OwnerRefused if it does not match."""
        try:
            measurement.verify_launch_measure(launch_measure, self._tik, api_major, api_minor, build, self.policy,
                                              expected_digest)
        except measurement.MeasurementMismatchError as error:
            raise OwnerRefused(f"launch measurement: {error}") from None
        self.api = (api_major, api_minor, build)
        self._measure = measurement.LaunchMeasure.from_bytes(launch_measure).measure

    def verify_attestation(self, report, mnonce, expected_digest):
        """Check an ATTESTATION report: signed by the verified platform's PEK, for this owner's
        ``mnonce``, with the expected launch digest and the policy asked for.

        Returns
        -------
        AttestationReport

        Raises
        ------
        OwnerRefused
            Any of those does not hold, or the report does not parse.
        """
        if self.pdh is None:
            raise OwnerRefused("verify the platform's chain before an attestation report")
        try:
            parsed = certs.AttestationReport.from_bytes(report)
            parsed.verify(self._pek)
        except (certs.CertificateError, certs.VerificationError) as error:
            raise OwnerRefused(f"attestation report: {error}") from None
        for name, got, expected in (("nonce", parsed.mnonce, bytes(mnonce)),
                                    ("launch digest", parsed.launch_digest, bytes(expected_digest)),
                                    ("policy", parsed.policy, self.policy)):
            if got != expected:
                raise OwnerRefused(f"attestation report: the {name} is not the expected one")
        return parsed

    def secret_packet(self, entries):
        """The LAUNCH_SECRET packet for an OVMF secret table of ``[(GUID, bytes), ...]``, only
        after :meth:`check_measurement` passed: ``(header bytes, trans bytes)``."""
        if self.api is None:
            raise OwnerRefused("no secret before the launch measurement has been checked")
        table = secret.build_secret_table(entries)
        packet = secret.build_secret_packet(self._tek, self._tik, table, self._measure, *self.api[:2],
                                            iv=self._entropy.token_bytes(session.NONCE_SIZE))
        return packet.header.to_bytes(), packet.trans
