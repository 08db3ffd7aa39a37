"""The guest commands (firmware/guest.py, firmware/migration.py) through the mailbox and the
machine API: the whole launch flow against a guest owner built from session/measurement/secret,
every guest command (migration included) in every guest state (sev-reference.md §4), the ASID
rules of §13, the policy bits, attestation, refused sessions and secrets, and the same launch on
the memory system's RTL. The helpers here are shared with test_migration.py, which runs
migration between two machines."""

import os
import uuid

import pytest

from cryptography.hazmat.primitives.asymmetric import ec

from sevlab.firmware import certs, guest, measurement, migration, secret, session
from sevlab.firmware.commands import CommandId
from sevlab.firmware.guest import ALIGNMENT, GUEST_COMMANDS, NEW_GUEST_COMMANDS
from sevlab.firmware.platform import API_MAJOR, API_MINOR, BUILD, SEVFirmware, manufacture
from sevlab.firmware.policy import PolicyFlags
from sevlab.firmware.states import GuestState, PlatformState
from sevlab.firmware.status import SEVError, Status
from sevlab.firmware.store import PlatformStore
from firmware_helpers import issue
from sevlab.sim.machine import KeySlotDriver, MachineConfig, run

C = CommandId
GODH = 0x11_0000            # the guest owner's GODH certificate
SESSION = 0x11_1000         # and session blob
OUT = 0x12_0000             # LAUNCH_MEASURE / ATTESTATION output
HEADER = 0x13_0000          # LAUNCH_SECRET header
TRANS = 0x13_1000           # and transport data
PLAIN = 0x14_0000           # DBG_* plaintext side
TARGET_PDH = 0x15_0000      # SEND_START: the target's PDH,
TARGET_CHAIN = 0x15_1000    # its PEK ‖ OCA ‖ CEK,
TARGET_AMD = 0x15_3000      # the AMD certificates ASK ‖ ARK,
SEND_SESSION = 0x15_4000    # and the session SEND_START writes
GUEST = 0x40_0000           # guest memory (system physical addresses)
TMR = 0x100_0000            # SEV-ES trusted memory region, 1 MiB-aligned
CBIT = 1 << MachineConfig().cbit_position
CERT = certs.SEVCertificate.SIZE
ES = int(PolicyFlags.ES)
NODBG = int(PolicyFlags.NODBG)
NOKS = int(PolicyFlags.NOKS)




async def ok(firmware, command, **fields):
    status, outputs = await issue(firmware, command, **fields)
    assert status is Status.SUCCESS, f"{command.name}: {status.name}"
    return outputs


def on_model(scenario, store, config=None):
    return run(lambda machine: scenario(SEVFirmware(machine, store)), backend="model", config=config)[0]


async def boot(firmware, *, es=False):
    """The host's part before any guest: power on (the SME key in slot 0, SME on in the unit),
    the platform INITed."""
    await firmware.power_on()
    if es:
        await ok(firmware, C.INIT, flags=1, tmr_address=TMR, tmr_length=1 << 20)
    else:
        await ok(firmware, C.INIT)


class GuestOwner:
    """The guest owner: a GODH key, transport keys, the session for one platform's PDH."""

    def __init__(self, pdh, policy):
        self.policy = policy
        self.godh_key = ec.generate_private_key(ec.SECP384R1())
        self.tek, self.tik = os.urandom(16), os.urandom(16)
        self.godh = certs.make_sev_certificate(usage=certs.Usage.PDH, public_key=self.godh_key.public_key())
        self.session = session.build_session(self.godh_key, pdh.public_key.to_cryptography(),
                                             self.tek, self.tik, policy)

    async def launch_start(self, firmware, *, godh=None, blob=None, policy=None, handle=0):
        """Put the GODH certificate and session into memory and issue LAUNCH_START."""
        machine = firmware.machine
        await machine.write(GODH, godh if godh is not None else self.godh.to_bytes(), port="priv")
        await machine.write(SESSION, blob if blob is not None else self.session.to_bytes(), port="priv")
        return await issue(firmware, C.LAUNCH_START, handle=handle,
                           policy=self.policy if policy is None else policy,
                           dh_cert_address=GODH, dh_cert_length=certs.SEVCertificate.SIZE,
                           session_address=SESSION, session_length=session.SESSION_SIZE)

    def secret_packet(self, measure, table, **options):
        return secret.build_secret_packet(self.tek, self.tik, table, measure, API_MAJOR, API_MINOR, **options)


async def put_secret(firmware, handle, packet, guest_address, command=C.LAUNCH_SECRET):
    """Put a packet (LAUNCH_SECRET's, or a migration packet for RECEIVE_UPDATE_*) into memory
    and issue ``command``."""
    machine = firmware.machine
    await machine.write(HEADER, packet.header.to_bytes(), port="priv")
    await machine.write(TRANS, packet.trans, port="priv")
    return await issue(firmware, command, handle=handle,
                       header_address=HEADER, header_length=secret.SECRET_HEADER_SIZE,
                       guest_address=guest_address, guest_length=packet.guest_len,
                       trans_address=TRANS, trans_length=len(packet.trans))


async def exported_identity(firmware):
    """What the hypervisor hands a source about a target platform: the PDH and the chain PEK ‖
    OCA ‖ CEK from PDH_CERT_EXPORT, and the AMD certificates ASK ‖ ARK (from AMD's key server
    on real hardware; here the ones manufactured into the store)."""
    machine = firmware.machine
    await ok(firmware, C.PDH_CERT_EXPORT, pdh_cert_address=OUT, pdh_cert_length=CERT,
             cert_chain_address=OUT + 0x1000, cert_chain_length=3 * CERT)
    ark, ask = firmware.platform_chain()[:2]
    return (await machine.read(OUT, CERT, port="priv"), await machine.read(OUT + 0x1000, 3 * CERT, port="priv"),
            ask.to_bytes() + ark.to_bytes())


async def send_start(firmware, handle, target, *, session_length=session.SESSION_SIZE):
    """Put the target's ``(pdh, chain, amd)`` into the source's memory and issue SEND_START."""
    machine = firmware.machine
    pdh, chain, amd = target
    await machine.write(TARGET_PDH, pdh, port="priv")
    await machine.write(TARGET_CHAIN, chain, port="priv")
    await machine.write(TARGET_AMD, amd, port="priv")
    return await issue(firmware, C.SEND_START, handle=handle, pdh_cert_address=TARGET_PDH,
                       pdh_cert_length=len(pdh), plat_certs_address=TARGET_CHAIN, plat_certs_length=len(chain),
                       amd_certs_address=TARGET_AMD, amd_certs_length=len(amd),
                       session_address=SEND_SESSION, session_length=session_length)


async def receive_start(firmware, source_pdh, blob, policy, *, handle=0):
    """Put the source's PDH (or any DH certificate) and the session into memory and issue
    RECEIVE_START."""
    machine = firmware.machine
    await machine.write(GODH, source_pdh, port="priv")
    await machine.write(SESSION, blob, port="priv")
    return await issue(firmware, C.RECEIVE_START, handle=handle, policy=policy,
                       pdh_cert_address=GODH, pdh_cert_length=len(source_pdh),
                       session_address=SESSION, session_length=len(blob))


def _pdh(firmware):
    return firmware.platform_chain()[-1]


# The whole launch ------------------------------------------------------------------------------

SECRET_GUID = uuid.UUID("736869e5-84f0-4973-92ec-06879ce3da0b")


def test_launch_flow_measurement_secret_and_attestation(store):
    ovmf = bytes(range(256)) * 4                     # 1 KiB "firmware image"
    kernel, cmdline = b"vmlinuz", "console=ttyS0"
    table = measurement.kernel_hashes_table(kernel, cmdline=cmdline)
    expected_digest = measurement.expected_launch_digest(ovmf, kernel=kernel, cmdline=cmdline)
    secret_table = secret.build_secret_table([(SECRET_GUID, b"disk passphrase")])
    secret_gpa = GUEST + 0x1000
    policy = 0                                       # debugging allowed: DBG_DECRYPT is checked too

    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware)
        await ok(firmware, C.PDH_CERT_EXPORT, pdh_cert_address=OUT, pdh_cert_length=certs.SEVCertificate.SIZE,
                 cert_chain_address=OUT + 0x1000, cert_chain_length=3 * certs.SEVCertificate.SIZE)
        pdh = certs.SEVCertificate.from_bytes(await machine.read(OUT, certs.SEVCertificate.SIZE, port="priv"))
        pek = certs.SEVCertificate.from_bytes(await machine.read(OUT + 0x1000, certs.SEVCertificate.SIZE,
                                                                 port="priv"))
        owner = GuestOwner(pdh, policy)
        r = {}
        status, out = await owner.launch_start(firmware)
        assert status is Status.SUCCESS, status.name
        handle = r["handle"] = out["handle"]
        r["platform"] = (await ok(firmware, C.PLATFORM_STATUS))["state"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=1)
        # The host loads the image in plaintext and the hashes table encrypted with its SME key
        # (C-bit set), then has both encrypted in place with the guest's key.
        await machine.write(GUEST, ovmf, port="priv")
        await machine.write(GUEST + len(ovmf) | CBIT, table, port="priv")
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=len(ovmf))
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST + len(ovmf) | CBIT,
                 length=len(table))
        r["probe"] = await issue(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=0)
        r["after_probe"] = (await ok(firmware, C.GUEST_STATUS, handle=handle))["state"]
        await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
        launch = measurement.LaunchMeasure.from_bytes(await machine.read(OUT, 48, port="priv"))
        # The guest owner checks the measurement before sending anything.
        measurement.verify_launch_measure(launch, owner.tik, API_MAJOR, API_MINOR, BUILD, policy, expected_digest)
        r["measure"] = launch.measure == measurement.measure(owner.tik, API_MAJOR, API_MINOR, BUILD, policy,
                                                             expected_digest, launch.mnonce)
        status, _ = await put_secret(firmware, handle, owner.secret_packet(launch.measure, secret_table),
                                     secret_gpa | CBIT)
        assert status is Status.SUCCESS, status.name
        await ok(firmware, C.LAUNCH_FINISH, handle=handle)
        r["state"] = (await ok(firmware, C.GUEST_STATUS, handle=handle))
        # What DRAM holds, and what the guest (C=1, its ASID, through the cache) sees.
        r["dram_image"] = await machine.dram_read(GUEST, len(ovmf))
        r["dram_secret"] = await machine.dram_read(secret_gpa, len(secret_table))
        r["guest_image"] = await machine.read(GUEST | CBIT, len(ovmf) + len(table), asid=1)
        r["guest_secret"] = await machine.read(secret_gpa | CBIT, len(secret_table), asid=1)
        r["host_secret"] = await machine.read(secret_gpa, len(secret_table))   # C=0: ciphertext
        # Debugging (NODBG=0): DBG_DECRYPT hands the plaintext out.
        await ok(firmware, C.DBG_DECRYPT, handle=handle, src_address=secret_gpa | CBIT, dst_address=PLAIN,
                 length=len(secret_table))
        r["debug"] = await machine.read(PLAIN, len(secret_table), port="priv")
        # Attestation: a size probe, then the report for the guest owner's nonce.
        r["att_probe"] = await issue(firmware, C.ATTESTATION, handle=handle, address=OUT, length=0,
                                     mnonce=bytes(16))
        mnonce = os.urandom(16)
        await ok(firmware, C.ATTESTATION, handle=handle, address=OUT, mnonce=mnonce, length=208)
        report = certs.AttestationReport.from_bytes(await machine.read(OUT, 208, port="priv"))
        r["report"] = (report.verify(pek), report.mnonce == mnonce, report.launch_digest, report.policy)
        stranger = certs.make_sev_certificate(usage=certs.Usage.PEK, public_key=ec.generate_private_key(
            ec.SECP384R1()).public_key())
        with pytest.raises(certs.BadSignature):
            report.verify(stranger)
        # Teardown as KVM does it.
        await machine.wbinvd()
        await ok(firmware, C.DEACTIVATE, handle=handle)
        await ok(firmware, C.DECOMMISSION, handle=handle)
        r["end"] = await ok(firmware, C.PLATFORM_STATUS)
        r["slot"] = await KeySlotDriver(machine).valid(1)
        return r

    r = on_model(scenario, store)
    assert r["handle"] == 1 and r["platform"] == PlatformState.WORKING
    assert r["probe"][0] is Status.INVALID_LENGTH and r["probe"][1]["length"] == 48
    assert r["after_probe"] == GuestState.LUPDATE, "a length probe must not change the guest's state"
    assert r["measure"], "MEASURE is not the guest owner's own computation"
    assert r["state"] == {"handle": r["handle"], "policy": policy, "asid": 1, "state": GuestState.RUNNING}
    assert r["dram_image"] != ovmf and r["dram_secret"] != secret_table, "DRAM holds plaintext"
    assert r["guest_image"] == ovmf + table
    assert r["guest_secret"] == secret_table
    assert secret.parse_secret_table(r["guest_secret"]) == [(SECRET_GUID, b"disk passphrase")]
    assert r["host_secret"] == r["dram_secret"]
    assert r["debug"] == secret_table
    assert r["att_probe"][0] is Status.INVALID_LENGTH and r["att_probe"][1]["length"] == 208
    verified, nonce_ok, digest, report_policy = r["report"]
    assert verified.parent == "PEK" and nonce_ok
    assert (digest, report_policy) == (expected_digest, policy)
    assert r["end"]["state"] == PlatformState.INIT and r["end"]["guest_count"] == 0
    assert not r["slot"], "DEACTIVATE left the key in the slot"


def test_sev_es_launch_measures_the_vmsa(store):
    vmsa = os.urandom(measurement.VMSA_SIZE)
    image = os.urandom(128)
    policy = ES

    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware, es=True)
        owner = GuestOwner(_pdh(firmware), policy)
        handle = (await owner.launch_start(firmware))[1]["handle"]
        refused = (await issue(firmware, C.ACTIVATE, handle=handle, asid=8))[0]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        await machine.write(GUEST, image, port="priv")
        await machine.write(GUEST + 0x1000, vmsa, port="priv")
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=len(image))
        await ok(firmware, C.LAUNCH_UPDATE_VMSA, handle=handle, address=GUEST + 0x1000, length=len(vmsa))
        await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
        return refused, owner, await machine.read(OUT, 48, port="priv"), \
            await machine.read(GUEST + 0x1000 | CBIT, len(vmsa), asid=2)

    refused, owner, launch, seen = on_model(scenario, store, MachineConfig(min_sev_asid=8))
    assert refused is Status.INVALID_ASID, "an SEV-ES guest must get an ASID below CPUID EDX"
    measurement.verify_launch_measure(launch, owner.tik, API_MAJOR, API_MINOR, BUILD, policy,
                                      measurement.expected_launch_digest(image, vmsas=[vmsa]))
    assert seen == vmsa


# Every guest command in every guest state ------------------------------------------------------

STATES = ["none", *(state.name for state in GuestState if state is not GuestState.UNINIT)]
COMMANDS = sorted([*NEW_GUEST_COMMANDS, *GUEST_COMMANDS])


def expected_status(command, state):
    """§4 (and the model's [U] choices for DBG_* and ATTESTATION) as a table."""
    if command in NEW_GUEST_COMMANDS:
        return Status.SUCCESS                   # always makes a new guest
    if state == "none":
        return Status.INVALID_GUEST
    if GuestState[state] in GUEST_COMMANDS[command]:
        return Status.SUCCESS
    return Status.INVALID_GUEST_STATE


def test_the_state_table_is_section_4():
    """The table in firmware/guest.py, spelled out from §4 once more, independently."""
    L, S, R, SU, RU, SE = (GuestState[name] for name in ("LUPDATE", "LSECRET", "RUNNING", "SUPDATE",
                                                          "RUPDATE", "SENT"))
    assert GUEST_COMMANDS == {
        C.LAUNCH_UPDATE_DATA: {L}, C.LAUNCH_UPDATE_VMSA: {L}, C.LAUNCH_MEASURE: {L},
        C.LAUNCH_SECRET: {S}, C.LAUNCH_FINISH: {S},
        C.ACTIVATE: {L, S, R, SU, RU}, C.DEACTIVATE: {L, S, R, SU, RU, SE},
        C.DECOMMISSION: {L, S, R, SU, RU, SE}, C.GUEST_STATUS: {L, S, R, SU, RU, SE},
        C.DBG_DECRYPT: {L, S, R}, C.DBG_ENCRYPT: {L, S, R}, C.ATTESTATION: {R},
        C.SEND_START: {R}, C.SEND_UPDATE_DATA: {SU}, C.SEND_UPDATE_VMSA: {SU}, C.SEND_FINISH: {SU},
        C.SEND_CANCEL: {SU}, C.RECEIVE_UPDATE_DATA: {RU}, C.RECEIVE_UPDATE_VMSA: {RU}, C.RECEIVE_FINISH: {RU},
    }


async def make_guest(firmware, owner, state, *, activate):
    """A guest (SEV-ES policy, so that LAUNCH_UPDATE_VMSA can succeed) in ``state``; returns its
    handle and the MEASURE it was given (None before LSECRET and for RUPDATE). Every state is
    reached through the commands: SUPDATE and SENT by SEND_START to this same platform (and
    SEND_FINISH), RUPDATE by RECEIVE_START of the owner's session, the owner playing the source."""
    if state == "none":
        return 1, None
    if state == "RUPDATE":
        handle = (await receive_start(firmware, owner.godh.to_bytes(), owner.session.to_bytes(),
                                      owner.policy))[1]["handle"]
        if activate:
            await ok(firmware, C.ACTIVATE, handle=handle, asid=1)
        return handle, None
    handle = (await owner.launch_start(firmware))[1]["handle"]
    if activate:
        await ok(firmware, C.ACTIVATE, handle=handle, asid=1)
    if state == "LUPDATE":
        return handle, None
    await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
    measure = (await firmware.machine.read(OUT, 32, port="priv"))
    if state != "LSECRET":
        await ok(firmware, C.LAUNCH_FINISH, handle=handle)
    if state in ("SUPDATE", "SENT"):
        status = (await send_start(firmware, handle, await exported_identity(firmware)))[0]
        assert status is Status.SUCCESS, status.name
    if state == "SENT":
        await ok(firmware, C.SEND_FINISH, handle=handle)
    return handle, measure


async def observe(firmware, handle):
    """Everything a guest command could change."""
    machine = firmware.machine
    slots = KeySlotDriver(machine)
    return {
        "guest": await issue(firmware, C.GUEST_STATUS, handle=handle),
        "platform": (await issue(firmware, C.PLATFORM_STATUS))[1],
        "store": firmware.store.snapshot(),
        "slots": [await slots.valid(n) for n in range(machine.config.slots)],
        "memory": await machine.dram_read(GUEST, 0x2000) + await machine.dram_read(PLAIN, 64),
        "digests": {h: (g.digest.digest(), g.measure, g.asid) for h, g in firmware.guests.items()},
        "dirty": sorted(firmware.dirty_asids),
    }


def command_fields(command, handle, owner, measure):
    """A buffer that succeeds when the state allows the command."""
    return {
        C.LAUNCH_START: {"handle": 0, "policy": 0},
        C.LAUNCH_UPDATE_DATA: {"handle": handle, "address": GUEST, "length": 64},
        C.LAUNCH_UPDATE_VMSA: {"handle": handle, "address": GUEST + 0x1000, "length": 4096},
        C.LAUNCH_MEASURE: {"handle": handle, "address": OUT, "length": 48},
        C.ACTIVATE: {"handle": handle, "asid": 1},
        C.DBG_DECRYPT: {"handle": handle, "src_address": GUEST | CBIT, "dst_address": PLAIN, "length": 64},
        C.DBG_ENCRYPT: {"handle": handle, "src_address": PLAIN, "dst_address": GUEST | CBIT, "length": 64},
        C.ATTESTATION: {"handle": handle, "address": OUT, "mnonce": bytes(16), "length": 208},
        **{command: {"handle": handle, "header_address": HEADER, "header_length": 52, "guest_address": address,
                     "guest_length": length, "trans_address": TRANS, "trans_length": length}
           for command, address, length in ((C.SEND_UPDATE_DATA, GUEST | CBIT, 64),
                                            (C.SEND_UPDATE_VMSA, GUEST + 0x1000 | CBIT, 4096))},
    }.get(command, {"handle": handle})


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_guest_command_in_every_guest_state(store, command, state):
    async def scenario(firmware):
        await boot(firmware, es=True)
        owner = GuestOwner(_pdh(firmware), ES)
        handle, measure = await make_guest(firmware, owner, state,
                                           activate=command not in (C.ACTIVATE, C.DECOMMISSION))
        target = await exported_identity(firmware)          # SEND_START to this same platform
        await firmware.machine.write(GUEST, os.urandom(0x2000), port="priv")
        before = await observe(firmware, handle)
        if command is C.LAUNCH_SECRET:
            packet = owner.secret_packet(measure or bytes(32), os.urandom(32))
            status, _ = await put_secret(firmware, handle, packet, GUEST + 0x1800 | CBIT)
        elif command in (C.RECEIVE_UPDATE_DATA, C.RECEIVE_UPDATE_VMSA):
            # The owner played the source of an RUPDATE guest: the packet is under its TEK/TIK.
            vmsa = command is C.RECEIVE_UPDATE_VMSA
            packet = migration.seal_packet(owner.tek, owner.tik, os.urandom(4096 if vmsa else 64), vmsa=vmsa)
            status, _ = await put_secret(firmware, handle, packet, (GUEST + 0x1000 if vmsa else GUEST + 0x1800) | CBIT,
                                         command=command)
        elif command is C.RECEIVE_START:
            status, _ = await receive_start(firmware, owner.godh.to_bytes(), owner.session.to_bytes(), owner.policy)
        elif command is C.SEND_START:
            status, _ = await send_start(firmware, handle, target)
        else:
            status, _ = await issue(firmware, command, **command_fields(command, handle, owner, measure))
        return status, before, await observe(firmware, handle)

    status, before, after = on_model(scenario, store, MachineConfig(min_sev_asid=8))
    expected = expected_status(command, state)
    assert status is expected, f"{command.name} in {state}: {status.name}, expected {expected.name}"
    if status is not Status.SUCCESS:
        assert after == before, f"{command.name} in {state} failed with {status.name} but changed something"


# Platform states -------------------------------------------------------------------------------

def test_guests_move_the_platform_between_init_and_working(store):
    async def scenario(firmware):
        r = {"uninit": (await issue(firmware, C.LAUNCH_START))[0]}
        await boot(firmware)
        first = (await ok(firmware, C.LAUNCH_START))["handle"]
        second = (await ok(firmware, C.LAUNCH_START))["handle"]
        r["working"] = await ok(firmware, C.PLATFORM_STATUS)
        r["pek_gen"] = (await issue(firmware, C.PEK_GEN))[0]
        await ok(firmware, C.DECOMMISSION, handle=first)
        r["one_left"] = (await ok(firmware, C.PLATFORM_STATUS))["state"]
        await ok(firmware, C.DECOMMISSION, handle=second)
        r["none_left"] = (await ok(firmware, C.PLATFORM_STATUS))["state"]
        r["gone"] = (await issue(firmware, C.GUEST_STATUS, handle=second))[0]
        r["handles"] = (first, second, (await ok(firmware, C.LAUNCH_START))["handle"])
        return r

    r = on_model(scenario, store)
    assert r["uninit"] is Status.INVALID_PLATFORM_STATE
    assert r["working"]["state"] == PlatformState.WORKING and r["working"]["guest_count"] == 2
    assert r["pek_gen"] is Status.INVALID_PLATFORM_STATE
    assert (r["one_left"], r["none_left"]) == (PlatformState.WORKING, PlatformState.INIT)
    assert r["gone"] is Status.INVALID_GUEST
    assert r["handles"] == (1, 2, 3), "handles are not reused"


def test_shutdown_wipes_the_key_slots_of_bound_guests(store):
    async def scenario(firmware):
        await boot(firmware)
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=5)
        slots = KeySlotDriver(firmware.machine)
        installed = await slots.valid(5)
        await ok(firmware, C.SHUTDOWN)
        return installed, await slots.valid(5), firmware.guests, sorted(firmware.dirty_asids)

    assert on_model(scenario, store) == (True, False, {}, [5])


# ASIDs ----------------------------------------------------------------------------------------

def test_asid_rules(store):
    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware, es=True)
        a = (await ok(firmware, C.LAUNCH_START))["handle"]
        b = (await ok(firmware, C.LAUNCH_START))["handle"]
        shared = (await ok(firmware, C.LAUNCH_START, handle=a))["handle"]
        es = (await ok(firmware, C.LAUNCH_START, policy=ES))["handle"]
        r = {"range": [(await issue(firmware, C.ACTIVATE, handle=a, asid=asid))[0] for asid in (0, 3, 16, 99)],
             "es_range": (await issue(firmware, C.ACTIVATE, handle=es, asid=8))[0]}
        await ok(firmware, C.ACTIVATE, handle=a, asid=8)
        r["again"] = (await issue(firmware, C.ACTIVATE, handle=a, asid=9))[0]
        r["owned"] = (await issue(firmware, C.ACTIVATE, handle=b, asid=8))[0]
        r["shared"] = (await issue(firmware, C.ACTIVATE, handle=shared, asid=8))[0]
        await ok(firmware, C.DEACTIVATE, handle=a)
        r["still_held"] = await KeySlotDriver(machine).valid(8)       # the sharer still uses it
        await ok(firmware, C.DEACTIVATE, handle=shared)
        r["wiped"] = not await KeySlotDriver(machine).valid(8)
        r["dirty"] = (await issue(firmware, C.ACTIVATE, handle=b, asid=8))[0]
        r["no_wbinvd"] = (await issue(firmware, C.DF_FLUSH))[0]
        r["still_dirty"] = (await issue(firmware, C.ACTIVATE, handle=b, asid=8))[0]
        await machine.wbinvd()
        r["flush"] = (await issue(firmware, C.DF_FLUSH))[0]
        r["reused"] = (await issue(firmware, C.ACTIVATE, handle=b, asid=8))[0]
        r["status"] = await ok(firmware, C.GUEST_STATUS, handle=b)
        return r

    r = on_model(scenario, store, MachineConfig(min_sev_asid=8))
    assert r["range"] == [Status.INVALID_ASID] * 4, "0, an ES-range ASID, ECX + 1 and beyond"
    assert r["es_range"] is Status.INVALID_ASID
    assert r["again"] is Status.ACTIVE
    assert r["owned"] is Status.ASID_OWNED
    assert r["shared"] is Status.SUCCESS, "a guest sharing the VEK may share the ASID"
    assert r["still_held"] and r["wiped"]
    assert (r["dirty"], r["no_wbinvd"], r["still_dirty"]) == (Status.DFFLUSH_REQUIRED, Status.WBINVD_REQUIRED,
                                                             Status.DFFLUSH_REQUIRED)
    assert (r["flush"], r["reused"]) == (Status.SUCCESS, Status.SUCCESS)
    assert r["status"]["asid"] == 8


def test_activate_needs_memory_encryption_enabled(store):
    async def scenario(firmware):
        await ok(firmware, C.INIT)                  # SME left off in the unit
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        return (await issue(firmware, C.ACTIVATE, handle=handle, asid=1))[0], \
            await KeySlotDriver(firmware.machine).valid(1)

    assert on_model(scenario, store) == (Status.INVALID_CONFIG, False)


# Policy ---------------------------------------------------------------------------------------

def test_policy_rules(store):
    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware)
        r = {"es_without_es": (await issue(firmware, C.LAUNCH_START, policy=ES))[0],
             "reserved": (await issue(firmware, C.LAUNCH_START, policy=1 << 6))[0],
             "newer_api": (await issue(firmware, C.LAUNCH_START, policy=(API_MINOR + 1) << 24))[0]}
        noks = (await ok(firmware, C.LAUNCH_START, policy=NOKS))["handle"]
        plain = (await ok(firmware, C.LAUNCH_START))["handle"]
        r["share_noks"] = (await issue(firmware, C.LAUNCH_START, handle=noks))[0]
        r["new_noks"] = (await issue(firmware, C.LAUNCH_START, handle=plain, policy=NOKS))[0]
        r["share_unknown"] = (await issue(firmware, C.LAUNCH_START, handle=77))[0]
        nodbg = (await ok(firmware, C.LAUNCH_START, policy=NODBG))["handle"]
        await ok(firmware, C.ACTIVATE, handle=nodbg, asid=3)
        await machine.write(PLAIN, b"\x55" * 64, port="priv")
        before = await machine.dram_read(GUEST, 64)
        r["dbg"] = [(await issue(firmware, command, handle=nodbg, src_address=GUEST | CBIT,
                                 dst_address=PLAIN, length=64))[0] for command in (C.DBG_DECRYPT, C.DBG_ENCRYPT)]
        r["unchanged"] = (await machine.dram_read(GUEST, 64) == before
                          and await machine.read(PLAIN, 64, port="priv") == b"\x55" * 64)
        r["vmsa"] = (await issue(firmware, C.LAUNCH_UPDATE_VMSA, handle=nodbg, address=GUEST, length=4096))[0]
        r["count"] = (await ok(firmware, C.PLATFORM_STATUS))["guest_count"]
        return r

    r = on_model(scenario, store)
    assert (r["es_without_es"], r["reserved"], r["newer_api"]) == (Status.POLICY_FAILURE,) * 3
    assert (r["share_noks"], r["new_noks"]) == (Status.POLICY_FAILURE,) * 2
    assert r["share_unknown"] is Status.INVALID_GUEST
    assert r["dbg"] == [Status.POLICY_FAILURE] * 2 and r["unchanged"]
    assert r["vmsa"] is Status.POLICY_FAILURE, "LAUNCH_UPDATE_VMSA needs an SEV-ES policy"
    assert r["count"] == 3


def test_decommission_of_an_active_guest_is_refused(store):
    async def scenario(firmware):
        await boot(firmware)
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        return (await issue(firmware, C.DECOMMISSION, handle=handle))[0], len(firmware.guests)

    assert on_model(scenario, store) == (Status.ACTIVE, 1)


def test_launch_update_needs_an_activated_guest_and_aligned_bounded_buffers(store):
    too_long = guest.MAX_REGION_BYTES + ALIGNMENT

    async def scenario(firmware):
        await boot(firmware)
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        r = [(await issue(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=64))[0]]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        for address, length in ((GUEST + 8, 64), (GUEST, 60), (GUEST, 0), (CBIT - 32, 64), (GUEST, too_long)):
            r.append((await issue(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=address,
                                  length=length))[0])
        r.append(firmware.guests[handle].digest.length)
        # The largest region one command takes is accepted and measured whole.
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=guest.MAX_REGION_BYTES)
        r.append(firmware.guests[handle].digest.length)
        return r

    assert on_model(scenario, store) == [Status.INACTIVE, Status.INVALID_ADDRESS, Status.INVALID_LENGTH,
                                         Status.INVALID_LENGTH, Status.INVALID_ADDRESS, Status.INVALID_LENGTH,
                                         0, guest.MAX_REGION_BYTES]


def test_host_memory_is_read_and_written_as_its_c_bit_says(store):
    """With host SME the host's pages are encrypted with the SME key in slot 0 and Linux passes
    their addresses with the C-bit: LAUNCH_UPDATE_DATA reads such a source through slot 0 and
    DBG_DECRYPT writes such a destination through it; DRAM holds neither in plaintext."""
    data = bytes(range(64)) * 4

    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware)
        slot0 = await KeySlotDriver(machine).valid(0)
        handle = (await ok(firmware, C.LAUNCH_START, policy=0))["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        await machine.write(GUEST | CBIT, data, port="priv")                 # host-encrypted
        host_dram = await machine.dram_read(GUEST, len(data))
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST | CBIT, length=len(data))
        guest_view = await machine.read(GUEST | CBIT, len(data), asid=2, port="priv")
        await ok(firmware, C.DBG_DECRYPT, handle=handle, src_address=GUEST, dst_address=PLAIN | CBIT,
                 length=len(data))
        return (slot0, host_dram, guest_view, await machine.read(PLAIN | CBIT, len(data), port="priv"),
                await machine.dram_read(PLAIN, len(data)), firmware.guests[handle].digest.length)

    slot0, host_dram, guest_view, debug_view, debug_dram, measured = on_model(scenario, store)
    assert slot0 and host_dram != data and debug_dram != data
    assert guest_view == data and debug_view == data and measured == len(data)


def test_debug_commands_take_at_most_one_bounded_region(store):
    async def scenario(firmware):
        await boot(firmware)
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        before = await observe(firmware, handle)
        r = [(await issue(firmware, command, handle=handle, src_address=src, dst_address=dst,
                          length=guest.MAX_REGION_BYTES + ALIGNMENT))[0]
             for command, src, dst in ((C.DBG_DECRYPT, GUEST | CBIT, PLAIN), (C.DBG_ENCRYPT, PLAIN, GUEST | CBIT))]
        return r, before == await observe(firmware, handle)

    assert on_model(scenario, store) == ([Status.INVALID_LENGTH] * 2, True)


# Refused sessions and secrets -------------------------------------------------------------------

def _flip(data, offset):
    data = bytearray(data)
    data[offset] ^= 1
    return bytes(data)


@pytest.mark.parametrize("tamper, expected", [
    ("wrap_mac", Status.BAD_MEASUREMENT), ("wrap_tk", Status.BAD_MEASUREMENT),
    ("policy", Status.BAD_MEASUREMENT), ("policy_mac", Status.BAD_MEASUREMENT),
    ("another_pdh", Status.BAD_MEASUREMENT), ("godh_usage", Status.INVALID_CERTIFICATE),
    ("godh_garbage", Status.INVALID_CERTIFICATE), ("short_session", Status.INVALID_LENGTH),
    ("no_session", Status.INVALID_PARAM)])
def test_refused_sessions_change_nothing(store, tamper, expected):
    async def scenario(firmware):
        await boot(firmware)
        pdh = _pdh(firmware)
        if tamper == "another_pdh":
            stranger = ec.generate_private_key(ec.SECP384R1())
            pdh = certs.make_sev_certificate(usage=certs.Usage.PDH, public_key=stranger.public_key())
        owner = GuestOwner(pdh, 0)
        blob, godh, policy = owner.session.to_bytes(), owner.godh.to_bytes(), 0
        offsets = {"wrap_mac": 0x40, "wrap_tk": 0x10, "policy_mac": 0x60}
        if tamper in offsets:
            blob = _flip(blob, offsets[tamper])
        elif tamper == "policy":
            policy = NODBG
        elif tamper == "godh_usage":
            godh = certs.make_sev_certificate(usage=certs.Usage.PEK,
                                              public_key=owner.godh_key.public_key()).to_bytes()
        elif tamper == "godh_garbage":
            godh = b"\xFF" * certs.SEVCertificate.SIZE
        before = (await ok(firmware, C.PLATFORM_STATUS), firmware.store.snapshot())
        if tamper == "short_session":
            await firmware.machine.write(SESSION, blob, port="priv")
            status = (await issue(firmware, C.LAUNCH_START, dh_cert_address=GODH,
                                  dh_cert_length=certs.SEVCertificate.SIZE, session_address=SESSION,
                                  session_length=64))[0]
        elif tamper == "no_session":
            status = (await issue(firmware, C.LAUNCH_START, dh_cert_address=GODH,
                                  dh_cert_length=certs.SEVCertificate.SIZE))[0]
        else:
            status = (await owner.launch_start(firmware, godh=godh, blob=blob, policy=policy))[0]
        return status, before, (await ok(firmware, C.PLATFORM_STATUS), firmware.store.snapshot())

    status, before, after = on_model(scenario, store)
    assert status is expected, status.name
    assert after == before and after[0]["guest_count"] == 0


@pytest.mark.parametrize("tamper, expected", [
    ("mac", Status.BAD_MEASUREMENT), ("trans", Status.BAD_MEASUREMENT),
    ("old_measure", Status.BAD_MEASUREMENT), ("wrong_tik", Status.BAD_MEASUREMENT),
    ("flags", Status.UNSUPPORTED), ("guest_len", Status.INVALID_LENGTH),
    ("header_length", Status.INVALID_LENGTH)])
def test_refused_secrets_change_nothing(store, tamper, expected):
    async def scenario(firmware):
        machine = firmware.machine
        await boot(firmware)
        owner = GuestOwner(_pdh(firmware), 0)
        handle = (await owner.launch_start(firmware))[1]["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=4)
        await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
        measure = await machine.read(OUT, 32, port="priv")
        payload = os.urandom(64)
        options = {"flags": {"flags": 1}, "guest_len": {"guest_len": 48}}.get(tamper, {})
        if tamper == "old_measure":
            measure = bytes(32)
        if tamper == "wrong_tik":
            owner.tik = os.urandom(16)
        packet = owner.secret_packet(measure, payload, **options)
        if tamper == "mac":
            packet = packet._replace(header=secret.SecretHeader(0, packet.header.iv, _flip(packet.header.mac, 0)))
        if tamper == "trans":
            packet = packet._replace(trans=_flip(packet.trans, 5))
        before = await observe(firmware, handle)
        if tamper == "header_length":
            await machine.write(HEADER, packet.header.to_bytes(), port="priv")
            await machine.write(TRANS, packet.trans, port="priv")
            status = (await issue(firmware, C.LAUNCH_SECRET, handle=handle, header_address=HEADER,
                                  header_length=51, guest_address=GUEST | CBIT, guest_length=64,
                                  trans_address=TRANS, trans_length=64))[0]
        else:
            status = (await put_secret(firmware, handle, packet, GUEST | CBIT))[0]
        return status, before, await observe(firmware, handle)

    status, before, after = on_model(scenario, store)
    assert status is expected, status.name
    assert after == before


def test_a_guest_command_that_fails_part_way_leaves_everything_as_it_was(store, monkeypatch):
    """LAUNCH_UPDATE_DATA has extended the launch digest when writing guest memory fails: the
    mailbox restores the guest context (deeply: the digest too)."""
    async def scenario(firmware):
        await boot(firmware)
        handle = (await ok(firmware, C.LAUNCH_START))["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=2)
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=64)
        before = firmware.guests[handle].digest.digest()

        async def failing_write(guest, address, data):
            raise SEVError(Status.HWERROR_PLATFORM, "injected")
        monkeypatch.setattr(firmware, "_write_guest", failing_write)
        status = (await issue(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST + 64, length=64))[0]
        guest = firmware.guests[handle]
        return status, before, guest.digest.digest(), guest.digest.length

    status, before, after, length = on_model(scenario, store)
    assert status is Status.HWERROR_PLATFORM
    assert (after, length) == (before, 64)


# The RTL path ---------------------------------------------------------------------------------

def test_launch_on_the_rtl(root):
    """LAUNCH_START, ACTIVATE, LAUNCH_UPDATE_DATA and LAUNCH_MEASURE on the memory system's RTL
    (Amaranth's simulator): the key goes into the RTL's key slot, the image is encrypted in
    place by the RTL's engine, and the measurement is the guest owner's."""
    store = PlatformStore()
    manufacture(store, root)
    image = os.urandom(128)

    async def scenario(machine):
        firmware = SEVFirmware(machine, store)
        await boot(firmware)
        owner = GuestOwner(_pdh(firmware), 0)
        status, out = await owner.launch_start(firmware)
        assert status is Status.SUCCESS, status.name
        handle = out["handle"]
        await ok(firmware, C.ACTIVATE, handle=handle, asid=3)
        await machine.write(GUEST, image, port="priv")
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=len(image))
        await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
        return (owner, await machine.read(OUT, 48, port="priv"), await machine.dram_read(GUEST, len(image)),
                await machine.read(GUEST | CBIT, len(image), asid=3, port="priv"))

    owner, launch, dram, seen = run(scenario, backend="amaranth", config=MachineConfig(engine="compact"))[0]
    measurement.verify_launch_measure(launch, owner.tik, API_MAJOR, API_MINOR, BUILD, 0,
                                      measurement.expected_launch_digest(image))
    assert dram != image, "the RTL left the image in plaintext"
    assert seen == image
