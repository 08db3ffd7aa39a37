"""The guest commands of legacy SEV (spec chapter 6; ``sev-reference.md`` §4, §5, §8–§11, §13):
the guest context, the launch flow, ASID activation, debug access and attestation.

:class:`GuestCommands` is mixed into :class:`~sevlab.firmware.platform.SEVFirmware`; its
handlers run from the mailbox after the platform state, the guest handle and the guest state
have been checked (:data:`GUEST_COMMANDS`). Every handler makes all of its checks before its
first write to the hardware (key slots or guest memory), so that a refused command changes
nothing; the mailbox restores the firmware's own state besides. The migration handlers
(SEND_*/RECEIVE_*) are in ``migration.py``; their states are in :data:`GUEST_COMMANDS` too.
See ``firmware/README.md`` ("Guest commands").
"""

import dataclasses

from ..sim.machine import BusError, KeySlotDriver, KeySlotError, SystemDriver, UnitDriver
from . import certs, measurement, secret, session
from .commands import CommandId
from .measurement import LaunchDigest
from .policy import GuestPolicy, PolicyFlags
from .states import GuestState, PlatformState
from .status import SEVError, Status

__all__ = ["GuestContext", "GuestCommands", "GUEST_COMMANDS", "MIGRATION_COMMANDS", "NEW_GUEST_COMMANDS",
           "ALIGNMENT", "MAX_REGION_BYTES", "MAX_SECRET_BYTES", "VEK_BYTES"]

#: The VEK: an AES-128 XTS key pair for the key slot, key1 ‖ key2.
VEK_BYTES = 32
#: LAUNCH_UPDATE_DATA, DBG_*: address and length must be multiples of 16 bytes [U].
ALIGNMENT = 16
#: LAUNCH_UPDATE_DATA, DBG_*: the most one command covers [U]. The spec gives LENGTH as a u32
#: with no bound, so a firmware would read up to 4 GiB for one command; the model refuses more
#: than 1 MiB with INVALID_LENGTH. KVM never comes near it: it issues LAUNCH_UPDATE_DATA per
#: physically contiguous run of pinned pages and DBG_* per page.
MAX_REGION_BYTES = 1 << 20
#: LAUNCH_SECRET: the largest transport buffer, Linux's SEV_FW_BLOB_MAX_SIZE [U].
MAX_SECRET_BYTES = 0x4000

S = GuestState
_LAUNCHED = frozenset({S.LUPDATE, S.LSECRET, S.RUNNING, S.SUPDATE, S.RUPDATE, S.SENT})
_DEBUG = frozenset({S.LUPDATE, S.LSECRET, S.RUNNING})        # [U] §4 note

C = CommandId
#: Guest states in which each guest command is allowed (§4). LAUNCH_START and RECEIVE_START
#: make a new context and have no entry: their handle, if any, names the guest whose VEK they
#: share.
GUEST_COMMANDS = {
    C.LAUNCH_UPDATE_DATA: frozenset({S.LUPDATE}),
    C.LAUNCH_UPDATE_VMSA: frozenset({S.LUPDATE}),
    C.LAUNCH_MEASURE: frozenset({S.LUPDATE}),
    C.LAUNCH_SECRET: frozenset({S.LSECRET}),
    C.LAUNCH_FINISH: frozenset({S.LSECRET}),
    C.ACTIVATE: _LAUNCHED - {S.SENT},
    C.DEACTIVATE: _LAUNCHED,
    C.DECOMMISSION: _LAUNCHED,
    C.GUEST_STATUS: _LAUNCHED,
    C.DBG_DECRYPT: _DEBUG,
    C.DBG_ENCRYPT: _DEBUG,
    C.ATTESTATION: frozenset({S.RUNNING}),
    C.SEND_START: frozenset({S.RUNNING}),
    C.SEND_UPDATE_DATA: frozenset({S.SUPDATE}),
    C.SEND_UPDATE_VMSA: frozenset({S.SUPDATE}),
    C.SEND_FINISH: frozenset({S.SUPDATE}),
    C.SEND_CANCEL: frozenset({S.SUPDATE}),
    C.RECEIVE_UPDATE_DATA: frozenset({S.RUPDATE}),
    C.RECEIVE_UPDATE_VMSA: frozenset({S.RUPDATE}),
    C.RECEIVE_FINISH: frozenset({S.RUPDATE}),
}
#: The commands that make a new guest context.
NEW_GUEST_COMMANDS = frozenset({C.LAUNCH_START, C.RECEIVE_START})
#: The migration commands (handlers in ``migration.py``).
MIGRATION_COMMANDS = frozenset({
    C.SEND_START, C.SEND_UPDATE_DATA, C.SEND_UPDATE_VMSA, C.SEND_FINISH, C.SEND_CANCEL,
    C.RECEIVE_START, C.RECEIVE_UPDATE_DATA, C.RECEIVE_UPDATE_VMSA, C.RECEIVE_FINISH,
})
del C, S


@dataclasses.dataclass
class GuestContext:
    """What the firmware keeps for one guest (the spec's GCTX).

    ``vek`` is key1 ‖ key2 for the key slot; ``tek``/``tik`` the transport keys (from the
    guest owner's session, or the firmware's own; SEND_START replaces them with fresh ones,
    RECEIVE_START takes them from the source's session); ``asid`` the ASID it is bound to, or None;
    ``measure`` the MEASURE of the last LAUNCH_MEASURE (the LAUNCH_SECRET MAC covers it);
    ``packet_sequence`` the number of the next migration packet it sends (SUPDATE) or expects
    (RUPDATE), None before its first SEND_START or RECEIVE_START (``migration.py``, [U]).
    """
    handle: int
    policy: GuestPolicy
    state: GuestState
    vek: bytes
    tek: bytes
    tik: bytes
    digest: LaunchDigest = dataclasses.field(default_factory=LaunchDigest)
    asid: int | None = None
    measure: bytes | None = None
    packet_sequence: int | None = None

    def copy(self):
        """A deep copy (the launch digest included), for the mailbox's snapshot."""
        return dataclasses.replace(self, digest=self.digest.copy())


def _region(fields, address, length):
    """The checks of a LAUNCH_UPDATE_DATA or DBG_* region: aligned, nonzero, bounded."""
    if fields[length] == 0 or fields[length] % ALIGNMENT:
        raise SEVError(Status.INVALID_LENGTH, f"{length} {fields[length]} is not a nonzero multiple of {ALIGNMENT}")
    if fields[length] > MAX_REGION_BYTES:
        raise SEVError(Status.INVALID_LENGTH, f"{length} {fields[length]} is over the model's "
                                              f"{MAX_REGION_BYTES} bytes per command")
    if fields[address] % ALIGNMENT:
        raise SEVError(Status.INVALID_ADDRESS, f"{address} {fields[address]:#x} is not {ALIGNMENT}-byte aligned")


class GuestCommands:
    """The guest command handlers; a mixin of ``SEVFirmware`` (which provides ``machine``,
    ``store``, ``guests``, ``dirty_asids``, ``_read``, ``_write``, ``_key`` and the API version)."""

    # Guest memory --------------------------------------------------------------------------------
    async def _cbit(self):
        return 1 << (await UnitDriver(self.machine).cpuid())["ebx"]["cbit_position"]

    async def _guest_range(self, address, length):
        """The system address without the C-bit, and the C-bit; INVALID_ADDRESS if the range
        reaches the C-bit."""
        cbit = await self._cbit()
        plain = address & ~cbit
        if plain + length > cbit:
            raise SEVError(Status.INVALID_ADDRESS, f"{plain:#x} + {length} reaches the C-bit")
        return plain, cbit

    async def _read_guest(self, guest, address, length):
        """Read guest memory decrypted with the guest's key (C-bit, the guest's ASID)."""
        plain, cbit = await self._guest_range(address, length)
        return await self._read_as(plain | cbit, length, guest.asid)

    async def _write_guest(self, guest, address, data):
        plain, cbit = await self._guest_range(address, len(data))
        await self._write_as(plain | cbit, data, guest.asid)

    async def _read_host(self, address, length):
        """Read host memory as its address says (ASID 0): with the C-bit through the host's SME
        key in slot 0, as Linux passes ``__sme_page_pa()`` when host SME is on; without it in
        plaintext."""
        await self._guest_range(address, length)
        return await self._read(address, length)

    async def _write_host(self, address, data):
        await self._guest_range(address, len(data))
        await self._write(address, data)

    async def _read_as(self, address, length, asid):
        self._check_range(address, length)
        try:
            return await self.machine.read(address, length, port="priv", asid=asid)
        except BusError as error:
            raise SEVError(Status.INVALID_ADDRESS, str(error)) from None

    async def _write_as(self, address, data, asid):
        self._check_range(address, len(data))
        try:
            await self.machine.write(address, data, port="priv", asid=asid)
        except BusError as error:
            raise SEVError(Status.INVALID_ADDRESS, str(error)) from None

    # Helpers -------------------------------------------------------------------------------------
    def _guest(self, handle):
        try:
            return self.guests[handle]
        except KeyError:
            raise SEVError(Status.INVALID_GUEST, f"no guest with handle {handle}") from None

    @staticmethod
    def _bound(guest):
        if guest.asid is None:
            raise SEVError(Status.INACTIVE, f"guest {guest.handle} is not activated")

    def _update_platform_state(self):
        self.state = PlatformState.WORKING if self.guests else PlatformState.INIT

    async def _wipe_slot(self, asid):
        """Wipe slot[asid] and mark the ASID dirty until WBINVD + DF_FLUSH (§13)."""
        count = await SystemDriver(self.machine).wbinvd_count()
        try:
            await KeySlotDriver(self.machine).wipe(asid)
        except KeySlotError as error:
            raise SEVError(Status.HWERROR_PLATFORM, str(error)) from None
        self.dirty_asids.add(asid)
        self.wbinvd_count_at_deactivate = count

    async def _run_guest_command(self, command, fields):
        """Look the guest up, check its state, run the handler."""
        if command in NEW_GUEST_COMMANDS:
            return await getattr(self, f"_{command.name.lower()}")(fields)
        guest = self._guest(fields["handle"])
        if guest.state not in GUEST_COMMANDS[command]:
            raise SEVError(Status.INVALID_GUEST_STATE, f"{command.name} in {guest.state.name}")
        return await getattr(self, f"_{command.name.lower()}")(fields, guest)

    # LAUNCH_START ---------------------------------------------------------------------------------
    async def _launch_start(self, fields):
        policy = self._new_policy(fields)
        shared = self._shared_guest(fields, policy)
        given = (fields["dh_cert_address"] and fields["dh_cert_length"],
                 fields["session_address"] and fields["session_length"])
        if any(given) and not all(given):
            raise SEVError(Status.INVALID_PARAM, "a GODH certificate needs a session and back")
        if all(given):
            tek, tik = await self._open_session(fields, policy)
        else:
            # [U] No session: the firmware picks the transport keys; nobody can verify the
            # measurement or send a secret, as with QEMU's default launch.
            tek, tik = self.entropy.token_bytes(session.KEY_SIZE), self.entropy.token_bytes(session.KEY_SIZE)
        return {"handle": self._add_guest(policy, GuestState.LUPDATE, tek, tik, shared)}

    def _new_policy(self, fields):
        """The policy of a new guest, checked by the LAUNCH_START rules (POLICY_FAILURE)."""
        policy = GuestPolicy.from_int(fields["policy"])
        rule = policy.broken_rule(self.api_major, self.api_minor, es_initialised=self.es_initialised)
        if rule is not None:
            raise SEVError(Status.POLICY_FAILURE, rule.value)
        return policy

    def _shared_guest(self, fields, policy):
        """The guest whose VEK a new guest shares (handle ≠ 0), or None; NOKS on either side is
        POLICY_FAILURE."""
        if not fields["handle"]:
            return None
        shared = self._guest(fields["handle"])
        if PolicyFlags.NOKS in policy.flags or PolicyFlags.NOKS in shared.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "NOKS forbids sharing the VEK")
        return shared

    def _add_guest(self, policy, state, tek, tik, shared):
        """A new context (a new handle, counting up from 1, never reused; a new VEK unless it
        shares one); returns the handle."""
        handle = self._next_handle
        self._next_handle += 1
        vek = shared.vek if shared else self.entropy.token_bytes(VEK_BYTES)
        self.guests[handle] = GuestContext(handle=handle, policy=policy, state=state,
                                           vek=vek, tek=tek, tik=tik)
        self._update_platform_state()
        return handle

    async def _open_session(self, fields, policy, cert="dh_cert"):
        """The transport keys of the session at ``session_address`` for the DH certificate at
        ``<cert>_address`` (the guest owner's GODH for LAUNCH_START, the source's PDH for
        RECEIVE_START), opened with this platform's PDH private key."""
        address, length = fields[f"{cert}_address"], fields[f"{cert}_length"]
        if length != certs.SEVCertificate.SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"{cert}_length {length}, "
                                                  f"must be {certs.SEVCertificate.SIZE}")
        if fields["session_length"] != session.SESSION_SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"session_length {fields['session_length']}, "
                                                  f"must be {session.SESSION_SIZE}")
        raw_cert = await self._read(address, certs.SEVCertificate.SIZE)
        blob = await self._read(fields["session_address"], session.SESSION_SIZE)
        try:
            godh = certs.SEVCertificate.from_bytes(raw_cert)
        except certs.CertificateError as error:
            raise SEVError(Status.INVALID_CERTIFICATE, str(error)) from None
        if (godh.usage is not certs.Usage.PDH or godh.algorithm.kind != "ECDH"
                or not isinstance(godh.public_key, certs.ECPublicKey)
                or godh.public_key.curve is not certs.Curve.P384):
            raise SEVError(Status.INVALID_CERTIFICATE, f"the {cert} must be a PDH-usage ECDH P-384 key")
        try:
            keys = session.open_session(self._key("pdh_key"), godh.public_key.to_cryptography(), blob, policy)
        except session.SessionError as error:
            # [U] §5/§20: a session MAC that does not check is BAD_MEASUREMENT.
            raise SEVError(Status.BAD_MEASUREMENT, str(error)) from None
        return keys.tek, keys.tik

    # ACTIVATE, DEACTIVATE, DECOMMISSION, GUEST_STATUS ---------------------------------------------
    async def _activate(self, fields, guest):
        asid = fields["asid"]
        if guest.asid is not None:
            raise SEVError(Status.ACTIVE, f"guest {guest.handle} is bound to ASID {guest.asid}")  # [U]
        unit = UnitDriver(self.machine)
        cpuid = await unit.cpuid()
        highest, min_sev = cpuid["ecx"]["asids"], cpuid["edx"]["min_sev_asid"]
        # [U] The firmware enforces KVM's ranges (§13, §20.3): SEV-ES 1..EDX-1, SEV EDX..ECX.
        low, high = (1, min_sev - 1) if PolicyFlags.ES in guest.policy.flags else (max(1, min_sev), highest)
        if not low <= asid <= high:
            raise SEVError(Status.INVALID_ASID, f"ASID {asid} is outside {low}..{high} for this guest")
        sharers = [g for g in self.guests.values() if g is not guest and g.asid == asid]
        if any(g.vek != guest.vek for g in sharers):
            raise SEVError(Status.ASID_OWNED, f"ASID {asid} holds another guest's key")
        if asid in self.dirty_asids:
            raise SEVError(Status.DFFLUSH_REQUIRED, f"ASID {asid} was deactivated without DF_FLUSH since")
        if not (await unit.config())["sme_enable"]:
            # [U] Without SME the C-bit selects no key slot: the guest's memory would be plaintext.
            raise SEVError(Status.INVALID_CONFIG, "memory encryption (SME) is not enabled in the unit")
        if not sharers:
            try:
                await KeySlotDriver(self.machine).install(asid, guest.vek[:16], guest.vek[16:])
            except KeySlotError as error:
                raise SEVError(Status.HWERROR_PLATFORM, str(error)) from None
        guest.asid = asid

    async def _deactivate(self, fields, guest):
        self._bound(guest)                               # [U] an unbound guest: INACTIVE
        asid, guest.asid = guest.asid, None
        # [U] Guests sharing a VEK share the slot: it is wiped when the last one leaves.
        if not any(g.asid == asid for g in self.guests.values()):
            await self._wipe_slot(asid)

    async def _decommission(self, fields, guest):
        if guest.asid is not None:
            raise SEVError(Status.ACTIVE, f"guest {guest.handle} is still bound to ASID {guest.asid}")
        del self.guests[guest.handle]
        self._update_platform_state()

    async def _guest_status(self, fields, guest):
        return {"policy": guest.policy.to_int(), "asid": guest.asid or 0, "state": guest.state}

    # The launch -----------------------------------------------------------------------------------
    async def _launch_update_data(self, fields, guest):
        self._bound(guest)
        _region(fields, "address", "length")
        data = await self._read_host(fields["address"], fields["length"])
        guest.digest.update(data)
        await self._write_guest(guest, fields["address"], data)

    async def _launch_update_vmsa(self, fields, guest):
        if PolicyFlags.ES not in guest.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "LAUNCH_UPDATE_VMSA needs an SEV-ES policy")  # [U]
        self._bound(guest)
        if fields["length"] != measurement.VMSA_SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"a VMSA is {measurement.VMSA_SIZE} bytes, not {fields['length']}")
        _region(fields, "address", "length")
        vmsa = await self._read_host(fields["address"], measurement.VMSA_SIZE)
        guest.digest.update_vmsa(vmsa)
        await self._write_guest(guest, fields["address"], vmsa)

    async def _launch_measure(self, fields, guest):
        size = measurement.LAUNCH_MEASURE_SIZE
        if fields["length"] < size:
            raise SEVError(Status.INVALID_LENGTH, f"length {fields['length']}, needs {size}",
                           outputs={"length": size})
        result = measurement.launch_measure(guest.tik, self.api_major, self.api_minor, self.build,
                                            guest.policy, guest.digest.digest(),
                                            mnonce=self.entropy.token_bytes(measurement.NONCE_SIZE))
        await self._write(fields["address"], result.to_bytes())
        guest.measure = result.measure
        guest.state = GuestState.LSECRET
        return {"length": size}

    async def _launch_secret(self, fields, guest):
        self._bound(guest)
        if fields["header_length"] != secret.SECRET_HEADER_SIZE:
            raise SEVError(Status.INVALID_LENGTH, f"header_length {fields['header_length']}, "
                                                  f"must be {secret.SECRET_HEADER_SIZE}")
        if not 0 < fields["trans_length"] <= MAX_SECRET_BYTES:
            raise SEVError(Status.INVALID_LENGTH, f"trans_length {fields['trans_length']} is outside "
                                                  f"1..{MAX_SECRET_BYTES}")
        header = await self._read(fields["header_address"], secret.SECRET_HEADER_SIZE)
        trans = await self._read(fields["trans_address"], fields["trans_length"])
        await self._guest_range(fields["guest_address"], fields["guest_length"] or 1)
        try:
            plaintext = secret.open_secret_packet(guest.tek, guest.tik, header, trans, fields["guest_length"],
                                                  guest.measure, self.api_major, self.api_minor)
        except secret.UnsupportedSecretFlagsError as error:
            raise SEVError(Status.UNSUPPORTED, str(error)) from None          # [U]
        except secret.SecretLengthError as error:
            raise SEVError(Status.INVALID_LENGTH, str(error)) from None       # [U]
        except secret.SecretMACError as error:
            raise SEVError(Status.BAD_MEASUREMENT, str(error)) from None      # [U] §5, §20.1
        await self._write_guest(guest, fields["guest_address"], plaintext)

    async def _launch_finish(self, fields, guest):
        guest.state = GuestState.RUNNING

    # Debug and attestation ------------------------------------------------------------------------
    def _debug_allowed(self, fields, guest):
        if PolicyFlags.NODBG in guest.policy.flags:
            raise SEVError(Status.POLICY_FAILURE, "the guest policy has NODBG")
        self._bound(guest)
        _region(fields, "src_address", "length")
        _region(fields, "dst_address", "length")

    async def _dbg_decrypt(self, fields, guest):
        self._debug_allowed(fields, guest)
        await self._guest_range(fields["dst_address"], fields["length"])
        data = await self._read_guest(guest, fields["src_address"], fields["length"])
        await self._write_host(fields["dst_address"], data)

    async def _dbg_encrypt(self, fields, guest):
        self._debug_allowed(fields, guest)
        await self._guest_range(fields["dst_address"], fields["length"])
        data = await self._read_host(fields["src_address"], fields["length"])
        await self._write_guest(guest, fields["dst_address"], data)

    async def _attestation(self, fields, guest):
        size = certs.AttestationReport.SIZE
        if fields["length"] < size:
            raise SEVError(Status.INVALID_LENGTH, f"length {fields['length']}, needs {size}",
                           outputs={"length": size})
        report = certs.AttestationReport.sign(mnonce=fields["mnonce"], launch_digest=guest.digest.digest(),
                                              policy=guest.policy.to_int(), pek_key=self._key("pek_key"))
        await self._write(fields["address"], report.to_bytes())
        return {"length": size}
