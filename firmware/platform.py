"""The SEV firmware: a mailbox whose command buffers live in system memory, the platform state
machine and the platform commands (``sev-reference.md`` §1–§3, §5, §7, §13); the guest
commands come from ``guest.py`` and the migration commands from ``migration.py``, and run
through the same mailbox.

The firmware reaches memory only through the machine API's privileged port (``port="priv"``,
coherent with the cores' cache under the tag it carries, allocating nothing) and the hardware's registers through the secure port. A command
either succeeds or leaves the firmware exactly as it was: every check runs before anything
changes, and the volatile and persistent state are restored if a command fails part way. Output
fields are written back even on failure, so a caller can read the length a too-small buffer
needed. See ``firmware/README.md``.
"""

from ..sim.machine import BusError, KeySlotDriver, SystemDriver, UnitDriver
from . import certs
from .commands import LAYOUTS, CommandId
from .entropy import Entropy
from .guest import GUEST_COMMANDS, NEW_GUEST_COMMANDS, GuestCommands
from .migration import MigrationCommands
from .states import PlatformState
from .status import SEVError, Status
from .store import private_key_from_text, private_key_to_text

__all__ = ["SEVFirmware", "API_MAJOR", "API_MINOR", "BUILD", "manufacture", "check_store", "ID_BYTES"]

API_MAJOR, API_MINOR = certs.DEFAULT_API_VERSION
BUILD = 1               # the model's own build number: not an AMD firmware build
ID_BYTES = 64           # GET_ID: one socket's ID
TMR_BYTES = 1 << 20     # SEV-ES trusted memory region: 1 MiB, 1 MiB-aligned

_CERT = certs.SEVCertificate.SIZE
_ANY = frozenset(PlatformState)
_INIT_ONLY = frozenset({PlatformState.INIT})
_INITIALISED = frozenset({PlatformState.INIT, PlatformState.WORKING})
_UNINIT_ONLY = frozenset({PlatformState.UNINIT})

C = CommandId
#: Platform states in which each platform command is allowed (§3).
PLATFORM_COMMANDS = {
    C.INIT: _UNINIT_ONLY, C.SHUTDOWN: _INITIALISED, C.PLATFORM_RESET: _UNINIT_ONLY,
    C.PLATFORM_STATUS: _ANY, C.PEK_GEN: _INIT_ONLY, C.PEK_CSR: _INIT_ONLY,
    C.PEK_CERT_IMPORT: _INIT_ONLY, C.PDH_CERT_EXPORT: _INITIALISED, C.PDH_GEN: _INITIALISED,
    C.DF_FLUSH: _INITIALISED, C.GET_ID: _ANY,
    C.DOWNLOAD_FIRMWARE: _UNINIT_ONLY, C.INIT_EX: _UNINIT_ONLY,
}
#: Commands the model answers with UNSUPPORTED: no firmware image to download, no NV file.
NOT_MODELLED = frozenset({C.DOWNLOAD_FIRMWARE, C.INIT_EX})
del C


def manufacture(store, root, entropy=None):
    """What the factory does once per chip: a random chip ID and a CEK signed by ``root``'s ASK
    (a :class:`~sevlab.firmware.certs.SimulatedAMDRoot`), written into ``store``."""
    entropy = entropy or Entropy()
    cek_key = entropy.ec_private_key()
    cek = root.sign_cek(certs.make_sev_certificate(usage=certs.Usage.CEK,
                                                   public_key=cek_key.public_key()))
    store.set("chip_id", entropy.token_bytes(ID_BYTES).hex())
    store.set("cek_key", private_key_to_text(cek_key))
    for name, certificate in (("cek_cert", cek), ("ark_cert", root.ark), ("ask_cert", root.ask)):
        store.set(name, certificate.to_bytes().hex())
    store.save()


def check_store(store):
    """Refuse a store that holds no chip or a damaged item (ValueError naming it): the firmware
    must not fail half-way through a command on a store it cannot read."""
    if "cek_key" not in store:
        raise ValueError("the store holds no chip: call manufacture(store, root) once first")
    required = ("chip_id", "cek_key", "cek_cert", "ark_cert", "ask_cert")
    parsers = {"chip_id": lambda text: bytes.fromhex(text)[ID_BYTES - 1],
               "ark_cert": lambda text: certs.AMDCertificate.from_bytes(bytes.fromhex(text)),
               "ask_cert": lambda text: certs.AMDCertificate.from_bytes(bytes.fromhex(text))}
    for role in ("cek", "oca", "pek", "pdh"):
        parsers[f"{role}_key"] = private_key_from_text
        parsers[f"{role}_cert"] = lambda text: certs.SEVCertificate.from_bytes(bytes.fromhex(text))
    for name, parse in parsers.items():
        if name not in store:
            if name in required:
                raise ValueError(f"the store has no {name}")
            continue
        try:
            parse(store.get(name))
        except (ValueError, TypeError, AttributeError, IndexError, certs.CertificateError) as error:
            raise ValueError(f"the store's {name} is damaged: {error}") from None


class SEVFirmware(MigrationCommands, GuestCommands):
    """The AMD Secure Processor's SEV firmware, on a machine.

    Parameters
    ----------
    machine : Machine
        Any backend of ``sim/machine``.
    store : PlatformStore
        The persistent state; it must hold a manufactured chip (:func:`manufacture`).
    """

    api_major, api_minor, build = API_MAJOR, API_MINOR, BUILD

    def __init__(self, machine, store, entropy=None):
        check_store(store)
        self.entropy = entropy or Entropy()
        self.machine = machine
        self.store = store
        self.state = PlatformState.UNINIT
        self.es_initialised = False
        self.guests = {}                # handle -> GuestContext
        self._next_handle = 1
        # ASIDs deactivated since the last DF_FLUSH, and the WBINVD count when the last was.
        self.dirty_asids = set()
        self.wbinvd_count_at_deactivate = None

    # Reset ----------------------------------------------------------------------------------
    async def power_on(self, *, sme=True, tsme=False):
        """What happens at every reset before the host runs, done by the secure processor's boot
        code and the BIOS: a fresh random SME key into key slot 0 (the host's key; nobody ever
        reads it, and a reset loses it with all host ciphertext), then the unit's mode: ``sme``
        (SYSCFG.MemEncryptionModEn: the C-bit selects encryption) and ``tsme`` (every host line
        encrypted with slot 0, C-bit or not)."""
        await KeySlotDriver(self.machine).install(0, self.entropy.token_bytes(16), self.entropy.token_bytes(16))
        await UnitDriver(self.machine).configure(sme_enable=sme, tsme=tsme)

    # The mailbox ----------------------------------------------------------------------------
    async def command(self, command_id, buffer_address=0):
        """Run one command whose buffer is at ``buffer_address``; return its :class:`Status`."""
        try:
            command = CommandId(command_id)
        except ValueError:
            return Status.INVALID_COMMAND
        layout = LAYOUTS[command]
        try:
            raw = await self._read(buffer_address, layout.size) if layout.size else b""
        except SEVError as error:
            return error.status
        fields = layout.unpack(raw)
        volatile, persistent = self._snapshot(), self.store.snapshot()
        outputs = {}
        try:
            if command in NOT_MODELLED:
                raise SEVError(Status.UNSUPPORTED, f"{command.name} is not modelled")
            allowed = PLATFORM_COMMANDS.get(command, _INITIALISED)
            if self.state not in allowed:
                raise SEVError(Status.INVALID_PLATFORM_STATE,
                               f"{command.name} in {self.state.name}")
            if command in GUEST_COMMANDS or command in NEW_GUEST_COMMANDS:
                outputs = await self._run_guest_command(command, fields) or {}
            else:
                outputs = await getattr(self, f"_{command.name.lower()}")(fields) or {}
            status = Status.SUCCESS
        except SEVError as error:
            self._restore(volatile)
            self.store.restore(persistent)
            outputs, status = error.outputs, error.status
        else:
            self.store.save()
        if outputs:
            await self._write(buffer_address, layout.pack(outputs, into=raw))
        return status

    # Memory through the privileged port ------------------------------------------------------
    def _check_range(self, address, length):
        if address < 0 or address + length > 1 << self.machine.config.address_width:
            raise SEVError(Status.INVALID_ADDRESS, f"{address:#x} + {length} is outside memory")

    async def _read(self, address, length):
        self._check_range(address, length)
        try:
            return await self.machine.read(address, length, port="priv")
        except BusError as error:
            raise SEVError(Status.INVALID_ADDRESS, str(error)) from None

    async def _write(self, address, data):
        await self._write_all([(address, data)])

    async def _write_all(self, writes):
        """Write several ``(address, data)`` ranges, all or none (INVALID_ADDRESS).

        The unit refuses line by line, so a range it refuses part of (one that crosses the
        C-bit: the lines above it need slot 0's key) or a refused second range would leave
        the lines before written. So each range is probed first: the unit refuses a read
        exactly where it would refuse the write (same route, same key slot), and whether it
        refuses a line depends only on the line's side of the C-bit — a range holds at most
        two kinds of line, and its first and last line are one of each."""
        for address, data in writes:
            self._check_range(address, len(data))
            last = address + len(data) - 1
            await self._read(address, 1)
            await self._read(last, 1)
        for address, data in writes:
            try:
                await self.machine.write(address, data, port="priv")
            except BusError as error:
                raise SEVError(Status.INVALID_ADDRESS, str(error)) from None

    # State -----------------------------------------------------------------------------------
    def _snapshot(self):
        # Guest contexts are copied deeply: handlers change them in place.
        return (self.state, self.es_initialised,
                {handle: guest.copy() for handle, guest in self.guests.items()},
                self._next_handle, set(self.dirty_asids), self.wbinvd_count_at_deactivate)

    def _restore(self, snapshot):
        (self.state, self.es_initialised, guests, self._next_handle, self.dirty_asids,
         self.wbinvd_count_at_deactivate) = snapshot
        # The snapshot stays untouched, so restoring it twice gives the same state.
        self.guests = {handle: guest.copy() for handle, guest in guests.items()}

    def _key(self, name):
        return private_key_from_text(self.store.get(name))

    def _certificate(self, name):
        return certs.SEVCertificate.from_bytes(bytes.fromhex(self.store.get(name)))

    def _put_certificate(self, name, certificate):
        self.store.set(name, certificate.to_bytes().hex())

    def _sign(self, usage, key, signers):
        certificate = certs.make_sev_certificate(usage=usage, public_key=key.public_key())
        for slot, (signer_usage, signer_key) in enumerate(signers, 1):
            certificate = certs.sign_sev_certificate(certificate, signer_key, usage=signer_usage, slot=slot)
        return certificate

    def _new_pdh(self):
        pdh_key = self.entropy.ec_private_key()
        self.store.set("pdh_key", private_key_to_text(pdh_key))
        self._put_certificate("pdh_cert", self._sign(certs.Usage.PDH, pdh_key,
                                                     [(certs.Usage.PEK, self._key("pek_key"))]))

    def _self_own(self):
        """A new OCA of the firmware's own, a PEK signed by it and by the CEK, a new PDH."""
        oca_key, pek_key = self.entropy.ec_private_key(), self.entropy.ec_private_key()
        self.store.set("oca_key", private_key_to_text(oca_key))
        self.store.set("pek_key", private_key_to_text(pek_key))
        self._put_certificate("oca_cert", self._sign(certs.Usage.OCA, oca_key, [(certs.Usage.OCA, oca_key)]))
        self._put_certificate("pek_cert", self._sign(certs.Usage.PEK, pek_key, [
            (certs.Usage.OCA, oca_key), (certs.Usage.CEK, self._key("cek_key"))]))
        self.store.set("owned_externally", False)
        self._new_pdh()

    @staticmethod
    def _need(length, needed, field):
        if length < needed:
            raise SEVError(Status.INVALID_LENGTH, f"{field} is {length}, needs {needed}",
                           outputs={field: needed})

    # Platform commands ---------------------------------------------------------------------------
    async def _init(self, fields):
        es = bool(fields["flags"] & 1)
        if es and (fields["tmr_length"] < TMR_BYTES or fields["tmr_address"] % TMR_BYTES):
            # [U] The TMR's checks are not public; a too-small or unaligned region is refused.
            raise SEVError(Status.INVALID_ADDRESS, "SEV-ES needs a 1 MiB-aligned TMR of 1 MiB")
        if "pek_key" not in self.store:         # first INIT, or after PLATFORM_RESET
            self._self_own()
        self.es_initialised = es
        self.state = PlatformState.INIT

    async def _shutdown(self, fields):
        # [U] §20.5: every guest context is lost; the key slots of bound guests are wiped and
        # their ASIDs need WBINVD + DF_FLUSH before reuse, as after DEACTIVATE.
        for asid in sorted({guest.asid for guest in self.guests.values() if guest.asid is not None}):
            await self._wipe_slot(asid)
        self.guests = {}
        self.state = PlatformState.UNINIT
        self.es_initialised = False

    async def _platform_reset(self, fields):
        # The platform's identity goes (regenerated at the next INIT); the chip's CEK stays.
        self.store.delete("oca_key", "oca_cert", "pek_key", "pek_cert", "pdh_key", "pdh_cert",
                          "owned_externally")

    async def _platform_status(self, fields):
        return {"api_major": API_MAJOR, "api_minor": API_MINOR, "state": self.state,
                "owner": int(bool(self.store.get("owned_externally", False))),
                "config": int(self.es_initialised), "build": BUILD, "guest_count": len(self.guests)}

    async def _pek_gen(self, fields):
        self._self_own()

    async def _pek_csr(self, fields):
        self._need(fields["length"], _CERT, "length")
        csr = certs.make_sev_certificate(usage=certs.Usage.PEK, public_key=self._key("pek_key").public_key())
        await self._write(fields["address"], csr.to_bytes())
        return {"length": _CERT}

    async def _pek_cert_import(self, fields):
        if self.store.get("owned_externally"):
            raise SEVError(Status.ALREADY_OWNED, "an owner's OCA is already imported")
        for name in ("pek_cert_length", "oca_cert_length"):
            if fields[name] != _CERT:
                raise SEVError(Status.INVALID_LENGTH, f"{name} is {fields[name]}, must be {_CERT}")
        try:
            pek = certs.SEVCertificate.from_bytes(await self._read(fields["pek_cert_address"], _CERT))
            oca = certs.SEVCertificate.from_bytes(await self._read(fields["oca_cert_address"], _CERT))
        except certs.CertificateError as error:
            raise SEVError(Status.INVALID_CERTIFICATE, str(error)) from None
        ours = self._certificate("pek_cert")
        if (oca.usage is not certs.Usage.OCA or pek.usage is not certs.Usage.PEK
                or pek.public_key != ours.public_key
                or not isinstance(pek.signatures[1], certs.EmptySignature)):
            raise SEVError(Status.INVALID_CERTIFICATE,
                           "need an OCA and this platform's PEK signed by it in slot 1 only")
        try:
            certs.verify(oca, oca)
            certs.verify(pek, oca)
        except certs.VerificationError as error:
            raise SEVError(Status.BAD_SIGNATURE, str(error)) from None
        pek = certs.sign_sev_certificate(pek, self._key("cek_key"), usage=certs.Usage.CEK, slot=2)
        self._put_certificate("pek_cert", pek)
        self._put_certificate("oca_cert", oca)
        self.store.delete("oca_key")           # the owner keeps the OCA's private key
        self.store.set("owned_externally", True)

    async def _pdh_gen(self, fields):
        self._new_pdh()

    async def _pdh_cert_export(self, fields):
        chain = _CERT * 3
        if fields["pdh_cert_length"] < _CERT or fields["cert_chain_length"] < chain:
            raise SEVError(Status.INVALID_LENGTH, "PDH_CERT_EXPORT buffers too small",
                           outputs={"pdh_cert_length": _CERT, "cert_chain_length": chain})
        await self._write_all([
            (fields["pdh_cert_address"], bytes.fromhex(self.store.get("pdh_cert"))),
            (fields["cert_chain_address"], b"".join(
                bytes.fromhex(self.store.get(name)) for name in ("pek_cert", "oca_cert", "cek_cert")))])
        return {"pdh_cert_length": _CERT, "cert_chain_length": chain}

    async def _df_flush(self, fields):
        # §13: a deactivated ASID is reusable only after a WBINVD on the cores since its
        # DEACTIVATE (the count is read from the hardware, not taken on trust) and a DF_FLUSH.
        if self.dirty_asids:
            count = await SystemDriver(self.machine).wbinvd_count()
            if count == self.wbinvd_count_at_deactivate:
                raise SEVError(Status.WBINVD_REQUIRED, "no WBINVD since the last DEACTIVATE")
        # The data fabric's write buffers: the unit drains every write it has taken.
        unit = UnitDriver(self.machine)
        while not (await unit.status())["idle"]:
            await self.machine.tick(4)
        self.dirty_asids = set()

    async def _get_id(self, fields):
        self._need(fields["length"], ID_BYTES, "length")
        await self._write(fields["address"], bytes.fromhex(self.store.get("chip_id")))
        return {"length": ID_BYTES}

    # For the guest owner and tests ---------------------------------------------------------
    def amd_certificates(self):
        """(ARK, ASK) of the chip: public, what AMD's key server gives for it."""
        return tuple(certs.AMDCertificate.from_bytes(bytes.fromhex(self.store.get(name)))
                     for name in ("ark_cert", "ask_cert"))

    def platform_chain(self):
        """(ARK, ASK, CEK, OCA, PEK, PDH) as the platform would export them (public data)."""
        ark, ask = self.amd_certificates()
        return (ark, ask, *(self._certificate(name) for name in ("cek_cert", "oca_cert", "pek_cert", "pdh_cert")))

