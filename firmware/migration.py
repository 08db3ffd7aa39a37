"""Migration between two platforms (spec §6.8–6.14; ``sev-reference.md`` §4, §12): SEND_START,
SEND_UPDATE_DATA, SEND_UPDATE_VMSA, SEND_FINISH and SEND_CANCEL on the source firmware,
RECEIVE_START, RECEIVE_UPDATE_DATA, RECEIVE_UPDATE_VMSA and RECEIVE_FINISH on the target; and the
migration packet (header and transport data) both sides build and open.

The source checks the target's certificate chain and the guest policy, makes fresh transport
keys (TEK, TIK) and wraps them for the target's PDH exactly as a guest owner does at LAUNCH_START
(``session.build_session``); it then hands out guest memory page by page, encrypted with the TEK
and authenticated with the TIK. The target opens the session with its own PDH private key, makes
a new VEK, checks and decrypts every packet and writes the plaintext into guest memory with the
C-bit and the guest's ASID, so that its unit encrypts it under the new VEK. Public sources give
the structure only; every cryptographic detail below marked [U] is this model's choice (§12,
§20.2), among them the packet sequence number both sides count within one migration, which the
MAC covers so that the target refuses a replayed or reordered packet. See ``firmware/README.md``
("Guest commands", "Migration").
"""

__all__ = [
    "MIGRATION_HEADER_SIZE", "DATA_MAC_CONTEXT", "VMSA_MAC_CONTEXT", "PAGE_BYTES", "SEQUENCE_MAX",
    "PacketError", "PacketMACError", "PacketFlagsError", "PacketLengthError",
    "packet_mac", "seal_packet", "open_packet", "MigrationCommands",
]

import os
import struct

from . import certs, session
from .guest import ALIGNMENT
from .measurement import VMSA_SIZE
from .policy import PolicyFlags, api_at_least
from .secret import SECRET_HEADER_SIZE, SecretHeader, SecretPacket
from .session import KEY_SIZE, NONCE_SIZE, _check_bytes, aes_128_ctr, hmac_sha256, hmac_sha256_matches
from .states import GuestState
from .status import SEVError, Status

#: The packet header is the LAUNCH_SECRET header of §10: FLAGS u32 @0, IV[16] @4, MAC[32] @0x14.
MIGRATION_HEADER_SIZE = SECRET_HEADER_SIZE
#: [U] The first byte of the MAC input (§12 suggests them; LAUNCH_SECRET's is 0x01): a DATA packet
#: cannot be replayed as a VMSA packet or as a launch secret, nor the reverse.
DATA_MAC_CONTEXT = 0x02
VMSA_MAC_CONTEXT = 0x03
#: [U] One SEND/RECEIVE_UPDATE_DATA carries at most one 4 KiB page and never crosses one, as KVM
#: restricts its calls (``sev_send_update_data``).
PAGE_BYTES = 4096
#: [U] The packet sequence number is a u64 in the MAC input (it never wraps in practice: a
#: migration of 2**64 packets is not a concern, but the value is checked all the same).
SEQUENCE_MAX = (1 << 64) - 1

_CERT = certs.SEVCertificate.SIZE
_U32_MAX = 0xFFFF_FFFF


# The packet ------------------------------------------------------------------------------------

class PacketError(Exception):
    """A migration packet that the target must refuse."""


class PacketMACError(PacketError):
    """The header MAC does not authenticate the packet under the TIK and the expected sequence
    number (a packet of another migration, one changed in flight, replayed or out of order, or
    of the other kind: DATA given as VMSA or back)."""


class PacketFlagsError(PacketError):
    """FLAGS is not zero (no compression is modelled; reserved bits too)."""


class PacketLengthError(PacketError):
    """GUEST_LEN differs from TRANS_LEN, or both are zero."""


def _context(vmsa):
    return VMSA_MAC_CONTEXT if vmsa else DATA_MAC_CONTEXT


def _u32(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32_MAX:
        raise ValueError(f"{name} must be a u32, not {value!r}")
    return value


def _sequence(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEQUENCE_MAX:
        raise ValueError(f"the packet sequence number must be a u64, not {value!r}")
    return value


def _mac_input(context, flags, iv, guest_len, trans, sequence):
    return (bytes([context]), struct.pack("<I", _u32("packet flags", flags)),
            _check_bytes("packet IV", iv, NONCE_SIZE),
            struct.pack("<II", _u32("GUEST_LEN", guest_len), _u32("TRANS_LEN", len(trans))),
            _check_bytes("transport data", trans), struct.pack("<Q", _sequence(sequence)))


def packet_mac(tik, flags, iv, guest_len, trans, *, vmsa=False, sequence=0):
    """The header MAC of a migration packet [U]::

        HMAC-SHA256(TIK, CONTEXT ‖ FLAGS_LE32 ‖ IV ‖ GUEST_LEN_LE32 ‖ TRANS_LEN_LE32 ‖ TRANS
                         ‖ SEQUENCE_LE64)

    with CONTEXT 0x02 for SEND/RECEIVE_UPDATE_DATA and 0x03 for SEND/RECEIVE_UPDATE_VMSA: the
    LAUNCH_SECRET MAC of §10 with its own context byte, without the MEASURE term (the target
    has no launch measurement), and with the packet's sequence number within its migration
    (0 for the first packet after SEND_START; DATA and VMSA packets count in one sequence). No
    guest address is covered: see :class:`MigrationCommands`.

    Raises
    ------
    ValueError
        A field does not fit its width (``sequence``: a u64).
    """
    return hmac_sha256(_check_bytes("TIK", tik, KEY_SIZE), *_mac_input(_context(vmsa), flags, iv, guest_len,
                                                                        trans, sequence))


def seal_packet(tek, tik, plaintext, *, vmsa=False, sequence=0, iv=None, flags=0):
    """The source's packet: TRANS = AES-128-CTR(TEK, IV, plaintext) with a fresh 16-byte IV, and
    the header MAC of :func:`packet_mac` for the packet's ``sequence`` number within its
    migration. ``iv`` and ``flags`` exist for tests.

    Returns
    -------
    SecretPacket
        ``(header, trans, guest_len)``, the §10 header form.
    """
    plaintext = _check_bytes("plaintext", plaintext)
    iv = os.urandom(NONCE_SIZE) if iv is None else _check_bytes("packet IV", iv, NONCE_SIZE)
    trans = aes_128_ctr(tek, iv, plaintext)
    mac = packet_mac(tik, flags, iv, len(plaintext), trans, vmsa=vmsa, sequence=sequence)
    return SecretPacket(header=SecretHeader(flags=flags, iv=iv, mac=mac), trans=trans, guest_len=len(plaintext))


def open_packet(tek, tik, header, trans, guest_len, *, vmsa=False, sequence=0):
    """The target's check and decryption of a packet, which must be the one numbered
    ``sequence`` in its migration; returns the plaintext.

    Raises
    ------
    PacketFlagsError
        FLAGS ≠ 0 [U].
    PacketLengthError
        GUEST_LEN ≠ TRANS_LEN, or both zero [U].
    PacketMACError
        The MAC does not match under the TIK and ``sequence`` (compared in constant time).

    Notes
    -----
    [U] The order is the LAUNCH_SECRET one: FLAGS, lengths, MAC, then decryption.
    """
    header = header if isinstance(header, SecretHeader) else SecretHeader.from_bytes(header)
    trans = _check_bytes("transport data", trans)
    if header.flags:
        raise PacketFlagsError(f"packet FLAGS {header.flags:#x} are not supported (only 0)")
    if _u32("GUEST_LEN", guest_len) != len(trans) or not trans:
        raise PacketLengthError(f"GUEST_LEN {guest_len} and TRANS_LEN {len(trans)} must be equal and non-zero")
    parts = _mac_input(_context(vmsa), header.flags, header.iv, guest_len, trans, sequence)
    if not hmac_sha256_matches(_check_bytes("TIK", tik, KEY_SIZE), header.mac, *parts):
        raise PacketMACError("the packet MAC does not authenticate the packet under the TIK")
    return aes_128_ctr(tek, header.iv, trans)


# The commands ----------------------------------------------------------------------------------

def _page_range(fields, address, length, *, exact=None):
    """[U] Address and length multiples of 16, length 16..4096 (exactly ``exact`` if given),
    and the range within one 4 KiB page (the C-bit stripped)."""
    if exact is not None and fields[length] != exact:
        raise SEVError(Status.INVALID_LENGTH, f"{length} {fields[length]} must be {exact}")
    if not 0 < fields[length] <= PAGE_BYTES or fields[length] % ALIGNMENT:
        raise SEVError(Status.INVALID_LENGTH, f"{length} {fields[length]} is not a multiple of {ALIGNMENT} "
                                              f"in {ALIGNMENT}..{PAGE_BYTES}")
    if fields[address] % ALIGNMENT:
        raise SEVError(Status.INVALID_ADDRESS, f"{address} {fields[address]:#x} is not {ALIGNMENT}-byte aligned")
    if fields[address] % PAGE_BYTES + fields[length] > PAGE_BYTES:
        raise SEVError(Status.INVALID_LENGTH, f"{address} {fields[address]:#x} + {fields[length]} crosses "
                                              f"a {PAGE_BYTES}-byte page")


class MigrationCommands:
    """The SEND_* and RECEIVE_* handlers; a mixin of ``SEVFirmware`` next to
    :class:`~sevlab.firmware.guest.GuestCommands`, whose helpers (guest memory, the session,
    new contexts) they use. The mailbox has checked the platform state, the handle and the guest
    state (:data:`~sevlab.firmware.guest.GUEST_COMMANDS`) before a handler runs; each handler
    makes all its checks before its first write.

    Model choices ([U]; ``firmware/README.md`` lists them too):

    - The session is wrapped with ECDH(this platform's PDH private key, the target's PDH), as §12
      says; the hypervisor passes the source's PDH (PDH_CERT_EXPORT on the source) to
      RECEIVE_START. The SEND_START buffer has no field through which a fresh ephemeral key
      could leave the firmware.
    - SEND_START checks, in order: the session length (a probe with a short length gets
      ``INVALID_LENGTH``, the needed 128 and the policy before any certificate is read, as KVM
      probes with an otherwise empty buffer); NOSEND (``POLICY_FAILURE``); the certificate
      lengths (2084, 3 × 2084, ASK ‖ ARK of 2 × 832 or 2 × 1600; else ``INVALID_LENGTH``); their
      format and roles (``INVALID_CERTIFICATE``); the whole chain ARK → ASK → CEK → PEK ← OCA,
      PEK → PDH with ``certs.verify_chain`` (``BAD_SIGNATURE``); then the policy against the
      target (``POLICY_FAILURE``): the policy's minimum API must not be newer than the target
      PEK's; DOMAIN=1 needs the target's OCA key to be this platform's OCA key (same domain,
      §6); SEV=1 needs the target's ARK to be byte for byte this platform's own ARK (the model's
      stand-in for the AMD root the firmware knows). With SEV=0 a chain under any root that
      verifies in itself is accepted.
    - SEND_START replaces the context's TEK and TIK by fresh ones (the launch ones are of no
      use after LAUNCH_FINISH); SEND_CANCEL keeps them, a new SEND_START makes new ones.
    - SEND/RECEIVE_UPDATE_*: at most one 4 KiB page per call, address and length multiples of
      16, not crossing a page (else ``INVALID_LENGTH``; a misaligned address
      ``INVALID_ADDRESS``); VMSA calls need an ES policy (``POLICY_FAILURE``) and exactly 4096
      bytes. The SEND length probe: a header length below 52 or a transport length below
      GUEST_LEN (one page when GUEST_LEN is 0) is ``INVALID_LENGTH`` with 52 and that length
      written back.
    - Packet sequence numbers [U]: SEND_START and RECEIVE_START each start a count at 0; every
      successful SEND_UPDATE_DATA/VMSA MACs its packet under the source's count and advances
      it, every RECEIVE_UPDATE_DATA/VMSA checks the MAC under the target's count and advances it
      only on success (DATA and VMSA packets share the one count). A packet replayed, reordered
      or changed in flight therefore fails the MAC (``BAD_MEASUREMENT``) and changes nothing;
      after a dropped packet every later one fails. The legacy spec's exact mechanism is not
      public: this one is the model's. Not covered: the guest address (the hypervisor owns the
      guest's layout, as on real legacy SEV), and packets dropped at the end of a migration
      (RECEIVE_FINISH does not know how many were sent). Packets of another migration fail the
      MAC (another TIK). The count is the guest context's ``packet_sequence``, so the mailbox's
      restore of a refused command covers it like the rest of the context.
    - RECEIVE_START needs both the source's PDH and the session (else ``INVALID_PARAM``); the
      PDH is checked for format and usage like a GODH, not for signatures (the buffer carries
      no chain). The policy rules are LAUNCH_START's; handle ≠ 0 shares that guest's VEK under
      the NOKS rule of LAUNCH_START. The launch digest of a received guest starts empty: it is
      not transferred (an ATTESTATION on the target reports the empty digest).
    - RECEIVE_UPDATE_*: the header length must be 52; FLAGS ≠ 0 is ``UNSUPPORTED``, GUEST_LEN ≠
      TRANS_LEN ``INVALID_LENGTH``, a MAC that does not check ``BAD_MEASUREMENT`` (§5, §20.1).
    """

    # SEND ------------------------------------------------------------------------------------
    async def _send_start(self, fields, guest):
        outputs = {"policy": guest.policy.to_int(), "session_length": session.SESSION_SIZE}
        if fields["session_length"] < session.SESSION_SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"session_length {fields['session_length']}, "
                                                  f"needs {session.SESSION_SIZE}", outputs=outputs)
        if PolicyFlags.NOSEND in guest.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "the guest policy has NOSEND")
        pdh, pek, oca, cek, ask, ark = await self._target_chain(fields)
        report = certs.verify_chain([ark, ask, cek, oca, pek, pdh])
        if not report.ok:
            failed = "; ".join(str(check.error) for check in report.checks if not check.ok)
            raise SEVError(Status.BAD_SIGNATURE, f"the target's chain does not verify: {failed}")
        policy = guest.policy
        if not api_at_least(pek.api_major, pek.api_minor, (policy.api_major, policy.api_minor)):
            raise SEVError(Status.POLICY_FAILURE, f"the policy needs API {policy.api_major}.{policy.api_minor}, "
                                                  f"the target has {pek.api_major}.{pek.api_minor}")
        if PolicyFlags.DOMAIN in policy.flags and oca.public_key != self._certificate("oca_cert").public_key:
            raise SEVError(Status.POLICY_FAILURE, "DOMAIN: the target's OCA is not this platform's")
        if PolicyFlags.SEV in policy.flags and ark.to_bytes() != bytes.fromhex(self.store.get("ark_cert")):
            raise SEVError(Status.POLICY_FAILURE, "SEV: the target's chain is not under this platform's ARK")
        self._check_range(fields["session_address"], session.SESSION_SIZE)
        tek, tik = self.entropy.token_bytes(KEY_SIZE), self.entropy.token_bytes(KEY_SIZE)
        blob = session.build_session(self._key("pdh_key"), pdh.public_key.to_cryptography(), tek, tik, policy,
                                     nonce=self.entropy.token_bytes(NONCE_SIZE), iv=self.entropy.token_bytes(NONCE_SIZE))
        await self._write(fields["session_address"], blob.to_bytes())
        guest.tek, guest.tik = tek, tik
        guest.state = GuestState.SUPDATE
        guest.packet_sequence = 0                       # [U] a new migration counts from 0
        return outputs

    async def _target_chain(self, fields):
        """The target's PDH, PEK, OCA, CEK, ASK and ARK from the SEND_START buffer, parsed and
        checked for their roles (INVALID_LENGTH, INVALID_CERTIFICATE)."""
        amd_sizes = {2 * certs.AMDCertificate.size_for(bits) for bits in (2048, 4096)}
        for name, allowed in (("pdh_cert_length", {_CERT}), ("plat_certs_length", {3 * _CERT}),
                              ("amd_certs_length", amd_sizes)):
            if fields[name] not in allowed:
                raise SEVError(Status.INVALID_LENGTH, f"{name} {fields[name]}, must be one of {sorted(allowed)}")
        raw_pdh = await self._read(fields["pdh_cert_address"], _CERT)
        raw_platform = await self._read(fields["plat_certs_address"], 3 * _CERT)
        raw_amd = await self._read(fields["amd_certs_address"], fields["amd_certs_length"])
        half = len(raw_amd) // 2
        try:
            pdh, pek, oca, cek = (certs.SEVCertificate.from_bytes(raw) for raw in (
                raw_pdh, raw_platform[:_CERT], raw_platform[_CERT:2 * _CERT], raw_platform[2 * _CERT:]))
            ask, ark = certs.AMDCertificate.from_bytes(raw_amd[:half]), certs.AMDCertificate.from_bytes(raw_amd[half:])
        except certs.CertificateError as error:
            raise SEVError(Status.INVALID_CERTIFICATE, str(error)) from None
        U = certs.Usage
        roles = ((pdh, U.PDH), (pek, U.PEK), (oca, U.OCA), (cek, U.CEK), (ask, U.ASK), (ark, U.ARK))
        for certificate, role in roles:
            if certificate.usage is not role:
                raise SEVError(Status.INVALID_CERTIFICATE, f"expected the {role.name} certificate, "
                                                           f"found {certificate.usage.name}")
        if (pdh.algorithm.kind != "ECDH" or not isinstance(pdh.public_key, certs.ECPublicKey)
                or pdh.public_key.curve is not certs.Curve.P384):
            raise SEVError(Status.INVALID_CERTIFICATE, "the target's PDH must be an ECDH P-384 key")
        return pdh, pek, oca, cek, ask, ark

    async def _send_update_data(self, fields, guest, *, vmsa=False):
        if vmsa and PolicyFlags.ES not in guest.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "SEND_UPDATE_VMSA needs an SEV-ES policy")
        needed = fields["guest_length"] or (VMSA_SIZE if vmsa else PAGE_BYTES)
        outputs = {"header_length": MIGRATION_HEADER_SIZE, "trans_length": needed}
        if fields["header_length"] < MIGRATION_HEADER_SIZE or fields["trans_length"] < needed:
            raise SEVError(Status.INVALID_LENGTH, f"header_length {fields['header_length']} and trans_length "
                                                  f"{fields['trans_length']}, need {MIGRATION_HEADER_SIZE} "
                                                  f"and {needed}", outputs=outputs)
        self._bound(guest)
        _page_range(fields, "guest_address", "guest_length", exact=VMSA_SIZE if vmsa else None)
        length = fields["guest_length"]
        self._check_range(fields["header_address"], MIGRATION_HEADER_SIZE)
        self._check_range(fields["trans_address"], length)
        plaintext = await self._read_guest(guest, fields["guest_address"], length)
        sequence = guest.packet_sequence
        packet = seal_packet(guest.tek, guest.tik, plaintext, vmsa=vmsa, sequence=sequence,
                             iv=self.entropy.token_bytes(NONCE_SIZE))
        # Both or neither: a header the unit refuses must not leave the transport data written.
        await self._write_all([(fields["trans_address"], packet.trans),
                               (fields["header_address"], packet.header.to_bytes())])
        guest.packet_sequence = sequence + 1            # [U] only once the packet is out
        return {"header_length": MIGRATION_HEADER_SIZE, "trans_length": length}

    async def _send_update_vmsa(self, fields, guest):
        return await self._send_update_data(fields, guest, vmsa=True)

    async def _send_finish(self, fields, guest):
        guest.state = GuestState.SENT

    async def _send_cancel(self, fields, guest):
        guest.state = GuestState.RUNNING

    # RECEIVE ---------------------------------------------------------------------------------
    async def _receive_start(self, fields):
        policy = self._new_policy(fields)
        shared = self._shared_guest(fields, policy)
        if not all(fields[name] for name in ("pdh_cert_address", "pdh_cert_length",
                                             "session_address", "session_length")):
            raise SEVError(Status.INVALID_PARAM, "RECEIVE_START needs the source's PDH and the session")
        tek, tik = await self._open_session(fields, policy, cert="pdh_cert")
        handle = self._add_guest(policy, GuestState.RUPDATE, tek, tik, shared)
        self.guests[handle].packet_sequence = 0         # [U] the first packet is number 0
        return {"handle": handle}

    async def _receive_update_data(self, fields, guest, *, vmsa=False):
        if vmsa and PolicyFlags.ES not in guest.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "RECEIVE_UPDATE_VMSA needs an SEV-ES policy")
        self._bound(guest)
        if fields["header_length"] != MIGRATION_HEADER_SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"header_length {fields['header_length']}, "
                                                  f"must be {MIGRATION_HEADER_SIZE}")
        if not 0 < fields["trans_length"] <= PAGE_BYTES:
            raise SEVError(Status.INVALID_LENGTH, f"trans_length {fields['trans_length']} is outside "
                                                  f"1..{PAGE_BYTES}")
        _page_range(fields, "guest_address", "guest_length", exact=VMSA_SIZE if vmsa else None)
        await self._guest_range(fields["guest_address"], fields["guest_length"])
        header = await self._read(fields["header_address"], MIGRATION_HEADER_SIZE)
        trans = await self._read(fields["trans_address"], fields["trans_length"])
        sequence = guest.packet_sequence
        try:
            plaintext = open_packet(guest.tek, guest.tik, header, trans, fields["guest_length"], vmsa=vmsa,
                                    sequence=sequence)
        except PacketFlagsError as error:
            raise SEVError(Status.UNSUPPORTED, str(error)) from None          # [U]
        except PacketLengthError as error:
            raise SEVError(Status.INVALID_LENGTH, str(error)) from None       # [U]
        except PacketMACError as error:
            raise SEVError(Status.BAD_MEASUREMENT, str(error)) from None      # [U] §5, §20.1
        await self._write_guest(guest, fields["guest_address"], plaintext)
        guest.packet_sequence = sequence + 1            # [U] only once the packet is in

    async def _receive_update_vmsa(self, fields, guest):
        return await self._receive_update_data(fields, guest, vmsa=True)

    async def _receive_finish(self, fields, guest):
        guest.state = GuestState.RUNNING
