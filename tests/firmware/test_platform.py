"""The firmware's mailbox and platform commands (firmware/platform.py) through the machine API:
every command in every platform state it can reach, status codes from sev-reference.md §3 and
§5, no state change on error, persistence, ownership and the exported chain."""

import pytest

from cryptography.hazmat.primitives.asymmetric import ec

from sevlab.firmware import certs
from sevlab.firmware.commands import CommandId
from sevlab.firmware.platform import API_MAJOR, API_MINOR, ID_BYTES, SEVFirmware, manufacture
from sevlab.firmware.states import PlatformState
from sevlab.firmware.status import Status
from sevlab.firmware.store import PlatformStore
from firmware_helpers import BUFFER, issue
from sevlab.sim.machine import MachineConfig, run

DATA = 0x20_0000            # and the memory they point to
CERT = certs.SEVCertificate.SIZE




async def observe(firmware):
    """Everything a command could change: PLATFORM_STATUS and the persistent store."""
    _, status = await issue(firmware, CommandId.PLATFORM_STATUS)
    return status, firmware.store.snapshot()


def on_model(scenario, store):
    return run(lambda machine: scenario(SEVFirmware(machine, store)), backend="model")[0]


def _fields(command):
    """Buffers that would succeed where the state allows the command."""
    return {
        CommandId.INIT: {},
        CommandId.PEK_CSR: {"address": DATA, "length": CERT},
        CommandId.PDH_CERT_EXPORT: {"pdh_cert_address": DATA, "pdh_cert_length": CERT,
                                    "cert_chain_address": DATA + 0x1000, "cert_chain_length": 3 * CERT},
        CommandId.GET_ID: {"address": DATA, "length": ID_BYTES},
    }.get(command, {})


PLATFORM = [CommandId.INIT, CommandId.SHUTDOWN, CommandId.PLATFORM_RESET, CommandId.PLATFORM_STATUS,
            CommandId.PEK_GEN, CommandId.PEK_CSR, CommandId.PDH_GEN, CommandId.PDH_CERT_EXPORT,
            CommandId.DF_FLUSH, CommandId.GET_ID]
# §3: where each platform command is allowed (WORKING, with guests, is covered in test_guest.py).
ALLOWED = {
    CommandId.INIT: {"UNINIT"}, CommandId.SHUTDOWN: {"INIT"}, CommandId.PLATFORM_RESET: {"UNINIT"},
    CommandId.PLATFORM_STATUS: {"UNINIT", "INIT"}, CommandId.PEK_GEN: {"INIT"},
    CommandId.PEK_CSR: {"INIT"}, CommandId.PDH_GEN: {"INIT"}, CommandId.PDH_CERT_EXPORT: {"INIT"},
    CommandId.DF_FLUSH: {"INIT"}, CommandId.GET_ID: {"UNINIT", "INIT"},
}


@pytest.mark.parametrize("state", ["UNINIT", "INIT"])
@pytest.mark.parametrize("command", PLATFORM, ids=lambda c: c.name)
def test_every_platform_command_in_every_state(store, command, state):
    async def scenario(firmware):
        if state == "INIT":
            assert (await issue(firmware, CommandId.INIT))[0] is Status.SUCCESS
        before = await observe(firmware)
        status, _ = await issue(firmware, command, **_fields(command))
        return status, before, await observe(firmware)

    status, before, after = on_model(scenario, store)
    if state in ALLOWED[command]:
        assert status is Status.SUCCESS, f"{command.name} in {state}: {status.name}"
    else:
        assert status is Status.INVALID_PLATFORM_STATE, f"{command.name} in {state}: {status.name}"
        assert after == before, f"{command.name} in {state} changed the firmware's state"


def test_platform_status_and_state_transitions(store):
    async def scenario(firmware):
        seen = [(await issue(firmware, CommandId.PLATFORM_STATUS))[1]]
        await issue(firmware, CommandId.INIT)
        seen.append((await issue(firmware, CommandId.PLATFORM_STATUS))[1])
        await issue(firmware, CommandId.SHUTDOWN)
        seen.append((await issue(firmware, CommandId.PLATFORM_STATUS))[1])
        return seen

    uninit, init, shut = on_model(scenario, store)
    assert uninit == {"api_major": API_MAJOR, "api_minor": API_MINOR, "state": PlatformState.UNINIT,
                      "owner": 0, "config": 0, "build": 1, "guest_count": 0}
    assert init["state"] == PlatformState.INIT and shut["state"] == PlatformState.UNINIT


def test_unknown_and_unmodelled_commands(store):
    async def scenario(firmware):
        return [await firmware.command(0x7F, BUFFER),
                (await issue(firmware, CommandId.DOWNLOAD_FIRMWARE, address=DATA, length=16))[0],
                (await issue(firmware, CommandId.INIT_EX))[0]]

    assert on_model(scenario, store) == [Status.INVALID_COMMAND, Status.UNSUPPORTED, Status.UNSUPPORTED]


def test_sev_es_init_needs_a_trusted_memory_region(store):
    async def scenario(firmware):
        bad = await issue(firmware, CommandId.INIT, flags=1, tmr_address=0x10_0800, tmr_length=1 << 20)
        good = await issue(firmware, CommandId.INIT, flags=1, tmr_address=0x40_0000, tmr_length=1 << 20)
        return bad[0], good[0], (await issue(firmware, CommandId.PLATFORM_STATUS))[1]["config"]

    assert on_model(scenario, store) == (Status.INVALID_ADDRESS, Status.SUCCESS, 1)


def test_size_probes_write_the_needed_lengths(store):
    async def scenario(firmware):
        await issue(firmware, CommandId.INIT)
        return [await issue(firmware, CommandId.PDH_CERT_EXPORT),
                await issue(firmware, CommandId.PEK_CSR, address=0, length=0),
                await issue(firmware, CommandId.GET_ID, address=DATA, length=63)]

    (export, export_out), (csr, csr_out), (ident, ident_out) = on_model(scenario, store)
    assert export is Status.INVALID_LENGTH
    assert (export_out["pdh_cert_length"], export_out["cert_chain_length"]) == (CERT, 3 * CERT)
    assert (csr, csr_out["length"]) == (Status.INVALID_LENGTH, CERT)
    assert (ident, ident_out["length"]) == (Status.INVALID_LENGTH, ID_BYTES)


def test_exported_chain_verifies_under_the_simulated_root(store):
    async def scenario(firmware):
        await issue(firmware, CommandId.INIT)
        status, _ = await issue(firmware, CommandId.PDH_CERT_EXPORT, **_fields(CommandId.PDH_CERT_EXPORT))
        pdh = await firmware.machine.read(DATA, CERT, port="priv")
        chain = await firmware.machine.read(DATA + 0x1000, 3 * CERT, port="priv")
        return status, pdh, chain, firmware.platform_chain()

    status, pdh, chain, (ark, ask, *_) = on_model(scenario, store)
    assert status is Status.SUCCESS
    pek, oca, cek = (certs.SEVCertificate.from_bytes(chain[n * CERT:(n + 1) * CERT]) for n in range(3))
    report = certs.verify_chain([ark, ask, cek, oca, pek, certs.SEVCertificate.from_bytes(pdh)])
    assert report.ok, str(report)
    assert report.simulated and any(certs.SIMULATED_MARK in line for line in report.lines())


def test_pdh_gen_and_pek_gen_change_the_keys_and_the_identity_survives_a_restart(root, tmp_path):
    path = tmp_path / "platform.json"
    store = PlatformStore(path)
    manufacture(store, root)

    async def first(firmware):
        await issue(firmware, CommandId.INIT)
        pdh = firmware.store.get("pdh_cert")
        await issue(firmware, CommandId.PDH_GEN)
        return pdh, firmware.store.get("pdh_cert"), firmware.store.get("pek_cert")

    old_pdh, new_pdh, pek = on_model(first, store)
    assert old_pdh != new_pdh
    restarted = PlatformStore(path)           # a new firmware object reads the same file

    async def second(firmware):
        await issue(firmware, CommandId.INIT)
        kept = (firmware.store.get("pdh_cert"), firmware.store.get("pek_cert"))
        await issue(firmware, CommandId.PEK_GEN)
        return kept, firmware.store.get("pek_cert")

    kept, regenerated = on_model(second, restarted)
    assert kept == (new_pdh, pek), "the platform's identity did not survive a restart"
    assert regenerated != pek


def test_platform_reset_erases_the_identity_but_not_the_chip(store):
    async def scenario(firmware):
        await issue(firmware, CommandId.INIT)
        before = dict(cek=firmware.store.get("cek_cert"), pek=firmware.store.get("pek_cert"))
        await issue(firmware, CommandId.SHUTDOWN)
        await issue(firmware, CommandId.PLATFORM_RESET)
        erased = "pek_cert" not in firmware.store
        await issue(firmware, CommandId.INIT)
        return before, erased, firmware.store.get("cek_cert"), firmware.store.get("pek_cert")

    before, erased, cek, pek = on_model(scenario, store)
    assert erased and cek == before["cek"] and pek != before["pek"]


def test_ownership_csr_import_and_back_to_self_owned(store):
    owner_key = ec.generate_private_key(ec.SECP384R1())
    owner_oca = certs.sign_sev_certificate(
        certs.make_sev_certificate(usage=certs.Usage.OCA, public_key=owner_key.public_key()),
        owner_key, usage=certs.Usage.OCA)

    async def scenario(firmware):
        machine = firmware.machine
        await issue(firmware, CommandId.INIT)
        await issue(firmware, CommandId.PEK_CSR, address=DATA, length=CERT)
        csr = certs.SEVCertificate.from_bytes(await machine.read(DATA, CERT, port="priv"))
        signed = certs.sign_sev_certificate(csr, owner_key, usage=certs.Usage.OCA, slot=1)
        await machine.write(DATA, signed.to_bytes(), port="priv")
        await machine.write(DATA + 0x1000, owner_oca.to_bytes(), port="priv")
        imported = {"pek_cert_address": DATA, "pek_cert_length": CERT,
                    "oca_cert_address": DATA + 0x1000, "oca_cert_length": CERT}
        results = {"import": (await issue(firmware, CommandId.PEK_CERT_IMPORT, **imported))[0],
                   "owner": (await issue(firmware, CommandId.PLATFORM_STATUS))[1]["owner"],
                   "chain": firmware.platform_chain(),
                   "again": (await issue(firmware, CommandId.PEK_CERT_IMPORT, **imported))[0]}
        await issue(firmware, CommandId.PEK_GEN)
        results["owner_after_pek_gen"] = (await issue(firmware, CommandId.PLATFORM_STATUS))[1]["owner"]
        return results

    results = on_model(scenario, store)
    assert results["import"] is Status.SUCCESS and results["owner"] == 1
    ark, ask, cek, oca, pek, pdh = results["chain"]
    assert oca == owner_oca, "the platform does not present the owner's OCA"
    report = certs.verify_chain(results["chain"])
    assert report.ok, str(report)
    assert results["again"] is Status.ALREADY_OWNED
    assert results["owner_after_pek_gen"] == 0


@pytest.mark.parametrize("tamper, expected", [
    ("another_key", Status.INVALID_CERTIFICATE), ("bad_signature", Status.BAD_SIGNATURE),
    ("garbage", Status.INVALID_CERTIFICATE), ("short", Status.INVALID_LENGTH)])
def test_pek_cert_import_refusals_change_nothing(store, tamper, expected):
    owner_key = ec.generate_private_key(ec.SECP384R1())
    stranger = ec.generate_private_key(ec.SECP384R1())
    owner_oca = certs.sign_sev_certificate(
        certs.make_sev_certificate(usage=certs.Usage.OCA, public_key=owner_key.public_key()),
        owner_key, usage=certs.Usage.OCA)

    async def scenario(firmware):
        machine = firmware.machine
        await issue(firmware, CommandId.INIT)
        await issue(firmware, CommandId.PEK_CSR, address=DATA, length=CERT)
        csr = certs.SEVCertificate.from_bytes(await machine.read(DATA, CERT, port="priv"))
        if tamper == "another_key":
            csr = certs.make_sev_certificate(usage=certs.Usage.PEK, public_key=stranger.public_key())
        signer = stranger if tamper == "bad_signature" else owner_key
        pek = certs.sign_sev_certificate(csr, signer, usage=certs.Usage.OCA, slot=1).to_bytes()
        if tamper == "garbage":
            pek = b"\xFF" * CERT
        await machine.write(DATA, pek, port="priv")
        await machine.write(DATA + 0x1000, owner_oca.to_bytes(), port="priv")
        before = await observe(firmware)
        status, _ = await issue(firmware, CommandId.PEK_CERT_IMPORT, pek_cert_address=DATA,
                                pek_cert_length=CERT - (tamper == "short"),
                                oca_cert_address=DATA + 0x1000, oca_cert_length=CERT)
        return status, before, await observe(firmware)

    status, before, after = on_model(scenario, store)
    assert status is expected, status.name
    assert after == before


def test_df_flush_needs_a_wbinvd_after_a_deactivate(store):
    """The rule of §13 against the hardware's WBINVD count (DEACTIVATE itself comes with the
    guest commands; here its bookkeeping is set directly)."""
    async def scenario(firmware):
        await issue(firmware, CommandId.INIT)
        firmware.dirty_asids = {3}
        firmware.wbinvd_count_at_deactivate = 0
        refused = (await issue(firmware, CommandId.DF_FLUSH))[0]
        still_dirty = set(firmware.dirty_asids)
        await firmware.machine.wbinvd()
        flushed = (await issue(firmware, CommandId.DF_FLUSH))[0]
        return refused, still_dirty, flushed, firmware.dirty_asids

    assert on_model(scenario, store) == (Status.WBINVD_REQUIRED, {3}, Status.SUCCESS, set())


def test_a_buffer_outside_memory_is_invalid_address(store):
    async def scenario(firmware):
        top = 1 << firmware.machine.config.address_width
        return await firmware.command(CommandId.PLATFORM_STATUS, top - 4)

    assert on_model(scenario, store) is Status.INVALID_ADDRESS


def test_platform_commands_on_the_rtl(root):
    """The same mailbox on the memory system's RTL (Amaranth's simulator): buffers and
    certificates travel through the privileged port and the unit."""
    store = PlatformStore()
    manufacture(store, root)

    async def scenario(machine):
        firmware = SEVFirmware(machine, store)
        init = (await issue(firmware, CommandId.INIT))[0]
        status = (await issue(firmware, CommandId.PLATFORM_STATUS))[1]
        export = (await issue(firmware, CommandId.PDH_CERT_EXPORT, **_fields(CommandId.PDH_CERT_EXPORT)))[0]
        return init, status, export, await machine.read(DATA, CERT, port="priv")

    init, status, export, pdh = run(scenario, backend="amaranth",
                                    config=MachineConfig(engine="compact"))[0]
    assert (init, export) == (Status.SUCCESS, Status.SUCCESS)
    assert status["state"] == PlatformState.INIT
    assert pdh == bytes.fromhex(store.get("pdh_cert"))


def test_a_command_that_fails_part_way_leaves_everything_as_it_was(store, monkeypatch):
    """The mailbox's guarantee, for failures after a command has started changing state:
    here PEK_GEN has a new OCA and PEK in the store when making the PDH fails."""
    from sevlab.firmware.status import SEVError

    async def scenario(firmware):
        await issue(firmware, CommandId.INIT)
        before = await observe(firmware)

        def failing_pdh():
            raise SEVError(Status.HWERROR_PLATFORM, "injected")
        monkeypatch.setattr(firmware, "_new_pdh", failing_pdh)
        status, _ = await issue(firmware, CommandId.PEK_GEN)
        return status, before, await observe(firmware)

    status, before, after = on_model(scenario, store)
    assert status is Status.HWERROR_PLATFORM
    assert after == before
