"""Migration (firmware/migration.py) between two platforms, each a firmware on its own `model`
machine with its own store: a guest launched on A is sent page by page and received on B, where
it reads back the same plaintext under another VEK; the policy rules of SEND_START (NOSEND,
DOMAIN, SEV, API), the target's chain, refused packets and sessions (replayed and reordered
packets too: the MAC covers a per-migration sequence number), SEND_CANCEL, the length probes and
an SEV-ES guest with its VMSA. Every guest command in every guest state, migration
included, is in test_guest.py's table."""

import os

import pytest

from cryptography.hazmat.primitives.asymmetric import ec

from sevlab.firmware import certs, migration, session
from sevlab.firmware.commands import CommandId
from sevlab.firmware.platform import SEVFirmware, manufacture
from sevlab.firmware.policy import PolicyFlags
from sevlab.firmware.secret import SecretHeader, SecretPacket
from sevlab.firmware.states import GuestState, PlatformState
from sevlab.firmware.status import SEVError, Status
from sevlab.firmware.store import PlatformStore
from sevlab.sim.machine import KeySlotDriver, MachineConfig, make_machine

from test_guest import (CBIT, CERT, GUEST, HEADER, OUT, PLAIN, SEND_SESSION, TRANS, boot, exported_identity,
                        issue, ok, put_secret, receive_start, send_start)

C = CommandId
PAGE = migration.PAGE_BYTES
PAGES = 3                                   # the guest data that moves: 12 KiB
NOSEND, DOMAIN, SEV, ES = (int(flag) for flag in (PolicyFlags.NOSEND, PolicyFlags.DOMAIN, PolicyFlags.SEV,
                                                  PolicyFlags.ES))


@pytest.fixture(scope="module")
def root():
    return certs.SimulatedAMDRoot.generate(bits=2048)


@pytest.fixture(scope="module")
def other_root():
    return certs.SimulatedAMDRoot.generate(bits=2048)


def platform(root):
    store = PlatformStore()
    manufacture(store, root)
    return store


def on_two(scenario, store_a, store_b, config=None):
    """Run ``scenario(firmware_a, firmware_b)`` with each firmware on its own model machine (the
    model backend completes every operation at once, so one scenario can await both)."""
    a, b = make_machine("model", config), make_machine("model", config)
    return a.run(lambda _: scenario(SEVFirmware(a, store_a), SEVFirmware(b, store_b)))


async def running_guest(firmware, policy, pages, *, asid=1):
    """A guest launched without a session, activated on ``asid``, its first pages loaded by
    LAUNCH_UPDATE_DATA and its last written by the guest itself (C=1, its ASID); RUNNING."""
    machine = firmware.machine
    handle = (await ok(firmware, C.LAUNCH_START, policy=policy))["handle"]
    await ok(firmware, C.ACTIVATE, handle=handle, asid=asid)
    image = b"".join(pages[:-1])
    if image:
        await machine.write(GUEST, image, port="priv")
        await ok(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=len(image))
    await ok(firmware, C.LAUNCH_MEASURE, handle=handle, address=OUT, length=48)
    await ok(firmware, C.LAUNCH_FINISH, handle=handle)
    await machine.write(GUEST + len(image) | CBIT, pages[-1], port="priv", asid=asid)
    return handle


async def send_pages(firmware, handle, count, *, length=PAGE):
    """SEND_UPDATE_DATA of ``count`` pieces of ``length`` bytes from GUEST on (a page each
    unless told); the packets as the hypervisor carries them."""
    machine = firmware.machine
    packets = []
    for n in range(count):
        out = await ok(firmware, C.SEND_UPDATE_DATA, handle=handle, header_address=HEADER, header_length=52,
                       guest_address=GUEST + n * length | CBIT, guest_length=length, trans_address=TRANS,
                       trans_length=length)
        assert (out["header_length"], out["trans_length"]) == (52, length), out
        header = SecretHeader.from_bytes(await machine.read(HEADER, 52, port="priv"))
        packets.append(SecretPacket(header, await machine.read(TRANS, length, port="priv"), length))
    return packets


async def send(source, handle, target_identity, count, *, length=PAGE):
    """SEND_START for the target, ``count`` pieces of ``length`` bytes, SEND_FINISH; returns
    what goes over the wire: the source's PDH, the session, the policy and the packets."""
    status, out = await send_start(source, handle, target_identity)
    assert status is Status.SUCCESS, status.name
    blob = await source.machine.read(SEND_SESSION, session.SESSION_SIZE, port="priv")
    packets = await send_pages(source, handle, count, length=length)
    await ok(source, C.SEND_FINISH, handle=handle)
    return (await exported_identity(source))[0], blob, out["policy"], packets


async def receive(target, source_pdh, blob, policy, packets, *, asid=1):
    status, out = await receive_start(target, source_pdh, blob, policy)
    assert status is Status.SUCCESS, status.name
    handle = out["handle"]
    await ok(target, C.ACTIVATE, handle=handle, asid=asid)
    for n, packet in enumerate(packets):
        status, _ = await put_secret(target, handle, packet, GUEST + n * PAGE | CBIT, command=C.RECEIVE_UPDATE_DATA)
        assert status is Status.SUCCESS, f"page {n}: {status.name}"
    await ok(target, C.RECEIVE_FINISH, handle=handle)
    return handle


# The whole migration ---------------------------------------------------------------------------

def test_a_guest_moves_to_another_platform_under_a_new_key(root):
    pages = [os.urandom(PAGE) for _ in range(PAGES)]
    plaintext = b"".join(pages)
    policy = 0

    async def scenario(a, b):
        r = {}
        await boot(a)
        await boot(b)
        handle = await running_guest(a, policy, pages)
        source_pdh, blob, r["policy"], packets = await send(a, handle, await exported_identity(b), PAGES)
        r["packets"] = packets
        r["a_status"] = await ok(a, C.GUEST_STATUS, handle=handle)
        r["a_dram"] = await a.machine.dram_read(GUEST, len(plaintext))
        r["a_read"] = await a.machine.read(GUEST | CBIT, len(plaintext), asid=1, port="priv")
        new = await receive(b, source_pdh, blob, policy, packets)
        r["b_status"] = await ok(b, C.GUEST_STATUS, handle=new)
        r["b_platform"] = (await ok(b, C.PLATFORM_STATUS))["state"]
        r["b_dram"] = await b.machine.dram_read(GUEST, len(plaintext))
        r["b_read"] = await b.machine.read(GUEST | CBIT, len(plaintext), asid=1, port="priv")
        r["b_guest"] = await b.machine.read(GUEST | CBIT, len(plaintext), asid=1)      # through the cache
        await ok(b, C.DBG_DECRYPT, handle=new, src_address=GUEST | CBIT, dst_address=PLAIN, length=64)
        r["b_debug"] = await b.machine.read(PLAIN, 64, port="priv")
        r["veks"] = a.guests[handle].vek != b.guests[new].vek
        # A SENT guest may only be deactivated and decommissioned.
        r["a_activate"] = (await issue(a, C.ACTIVATE, handle=handle, asid=2))[0]
        await a.machine.wbinvd()
        await ok(a, C.DEACTIVATE, handle=handle)
        await ok(a, C.DECOMMISSION, handle=handle)
        r["a_end"] = await ok(a, C.PLATFORM_STATUS)
        return r

    r = on_two(scenario, platform(root), platform(root))
    assert r["policy"] == policy, "SEND_START writes the policy back"
    assert r["a_status"]["state"] == GuestState.SENT
    assert r["a_read"] == plaintext, "the source's guest is not what was launched"
    assert r["b_status"] == {"handle": 1, "policy": policy, "asid": 1, "state": GuestState.RUNNING}
    assert r["b_platform"] == PlatformState.WORKING
    assert r["b_read"] == plaintext, "the target does not read the guest's plaintext"
    assert r["b_guest"] == plaintext
    assert r["b_debug"] == plaintext[:64]
    assert r["veks"], "the target reused the source's VEK"
    assert r["b_dram"] != r["a_dram"], "same address, same ASID: only the VEK differs, so must DRAM"
    assert r["b_dram"] != plaintext and r["a_dram"] != plaintext
    for n, packet in enumerate(r["packets"]):
        wire = packet.header.to_bytes() + packet.trans
        assert pages[n] not in wire and packet.trans != pages[n], f"page {n} travels in plaintext"
        assert all(pages[n][i:i + 16] not in wire for i in range(0, PAGE, 16)), f"page {n} leaks a block"
    assert len({packet.header.iv for packet in r["packets"]}) == PAGES, "an IV was reused"
    assert r["a_activate"] is Status.INVALID_GUEST_STATE
    assert r["a_end"]["state"] == PlatformState.INIT and r["a_end"]["guest_count"] == 0


def test_sev_es_guest_moves_with_its_vmsa(root):
    vmsa, data = os.urandom(4096), os.urandom(PAGE)
    policy = ES

    async def scenario(a, b):
        await boot(a, es=True)
        await boot(b, es=True)
        handle = await running_guest(a, policy, [data], asid=2)
        await a.machine.write(GUEST + PAGE | CBIT, vmsa, port="priv", asid=2)
        status, _ = await send_start(a, handle, await exported_identity(b))
        assert status is Status.SUCCESS, status.name
        blob = await a.machine.read(SEND_SESSION, session.SESSION_SIZE, port="priv")
        [packet] = await send_pages(a, handle, 1)
        await ok(a, C.SEND_UPDATE_VMSA, handle=handle, header_address=HEADER, header_length=52,
                 guest_address=GUEST + PAGE | CBIT, guest_length=4096, trans_address=TRANS, trans_length=4096)
        vmsa_packet = SecretPacket(SecretHeader.from_bytes(await a.machine.read(HEADER, 52, port="priv")),
                                   await a.machine.read(TRANS, 4096, port="priv"), 4096)
        await ok(a, C.SEND_FINISH, handle=handle)
        source_pdh = (await exported_identity(a))[0]
        new = (await receive_start(b, source_pdh, blob, policy))[1]["handle"]
        await ok(b, C.ACTIVATE, handle=new, asid=3)
        swapped = (await put_secret(b, new, vmsa_packet, GUEST | CBIT, command=C.RECEIVE_UPDATE_DATA))[0]
        await put_secret(b, new, packet, GUEST | CBIT, command=C.RECEIVE_UPDATE_DATA)
        status = (await put_secret(b, new, vmsa_packet, GUEST + PAGE | CBIT, command=C.RECEIVE_UPDATE_VMSA))[0]
        await ok(b, C.RECEIVE_FINISH, handle=new)
        return swapped, status, vmsa_packet.trans, await b.machine.read(GUEST | CBIT, 2 * PAGE, asid=3, port="priv")

    swapped, status, trans, seen = on_two(scenario, platform(root), platform(root), MachineConfig(min_sev_asid=8))
    assert swapped is Status.BAD_MEASUREMENT, "a VMSA packet was accepted as data (the MAC context)"
    assert status is Status.SUCCESS, status.name
    assert trans != vmsa
    assert seen == data + vmsa


# SEND_START: probes, cancel, policy and the target's chain ---------------------------------------

def test_length_probes_and_send_cancel(root):
    pages = [os.urandom(PAGE) for _ in range(2)]

    async def scenario(a, b):
        r = {}
        await boot(a)
        await boot(b)
        handle = await running_guest(a, 0, pages)
        target = await exported_identity(b)
        r["probe"] = await issue(a, C.SEND_START, handle=handle)      # KVM's probe: all else zero
        r["after_probe"] = (await ok(a, C.GUEST_STATUS, handle=handle))["state"]
        status, _ = await send_start(a, handle, target)
        assert status is Status.SUCCESS
        first = await a.machine.read(SEND_SESSION, session.SESSION_SIZE, port="priv")
        r["update_probe"] = await issue(a, C.SEND_UPDATE_DATA, handle=handle)
        r["update_probe_64"] = await issue(a, C.SEND_UPDATE_DATA, handle=handle, guest_address=GUEST | CBIT,
                                           guest_length=64)
        r["crossing"] = (await issue(a, C.SEND_UPDATE_DATA, handle=handle, header_address=HEADER,
                                     header_length=52, guest_address=GUEST + PAGE - 32 | CBIT, guest_length=64,
                                     trans_address=TRANS, trans_length=64))[0]
        await send_pages(a, handle, 1)
        await ok(a, C.SEND_CANCEL, handle=handle)
        r["cancelled"] = (await ok(a, C.GUEST_STATUS, handle=handle))["state"]
        r["intact"] = await a.machine.read(GUEST | CBIT, 2 * PAGE, asid=1, port="priv")
        status, _ = await send_start(a, handle, target)
        r["again"] = status, await a.machine.read(SEND_SESSION, session.SESSION_SIZE, port="priv") != first
        return r

    r = on_two(scenario, platform(root), platform(root))
    status, out = r["probe"]
    assert status is Status.INVALID_LENGTH and out["session_length"] == session.SESSION_SIZE
    assert out["policy"] == 0
    assert r["after_probe"] == GuestState.RUNNING, "a probe must not start the send"
    status, out = r["update_probe"]
    assert (status, out["header_length"], out["trans_length"]) == (Status.INVALID_LENGTH, 52, PAGE)
    status, out = r["update_probe_64"]
    assert (status, out["header_length"], out["trans_length"]) == (Status.INVALID_LENGTH, 52, 64)
    assert r["crossing"] is Status.INVALID_LENGTH, "a call may not cross a page"
    assert r["cancelled"] == GuestState.RUNNING
    assert r["intact"] == b"".join(pages)
    assert r["again"] == (Status.SUCCESS, True), "a new SEND_START makes a new session"


def _fake_target(root, api_version):
    keys = {name: ec.generate_private_key(ec.SECP384R1())
            for name in ("cek_key", "oca_key", "pek_key", "pdh_key")}
    chain = certs.build_platform_chain(root, api_version=api_version, **keys)
    return (chain.pdh.to_bytes(), chain.pek.to_bytes() + chain.oca.to_bytes() + chain.cek.to_bytes(),
            chain.ask.to_bytes() + chain.ark.to_bytes())


@pytest.mark.parametrize("tamper, policy, expected", [
    ("none", NOSEND, Status.POLICY_FAILURE),
    ("none", DOMAIN, Status.POLICY_FAILURE),             # two self-owned platforms: two OCAs
    ("other_root", SEV, Status.POLICY_FAILURE),
    ("other_root", DOMAIN, Status.POLICY_FAILURE),
    ("old_api", 17 << 24, Status.POLICY_FAILURE),        # the policy needs API 0.17, the target has 0.16
    ("pdh_of_another_platform", 0, Status.BAD_SIGNATURE),
    ("pek_of_another_platform", 0, Status.BAD_SIGNATURE),
    ("ask_of_another_root", 0, Status.BAD_SIGNATURE),
    ("garbage_pdh", 0, Status.INVALID_CERTIFICATE),
    ("chain_order", 0, Status.INVALID_CERTIFICATE),
    ("pdh_is_a_pek", 0, Status.INVALID_CERTIFICATE),
    ("short_chain", 0, Status.INVALID_LENGTH),
    ("amd_length", 0, Status.INVALID_LENGTH),
])
def test_refused_send_starts_change_nothing(root, other_root, tamper, policy, expected):
    async def scenario(a, b):
        await boot(a)
        await boot(b)
        handle = await running_guest(a, policy, [os.urandom(PAGE)])
        pdh, chain, amd = await exported_identity(b)
        if tamper == "other_root":
            pdh, chain, amd = _fake_target(other_root, certs.DEFAULT_API_VERSION)
        elif tamper == "old_api":
            pdh, chain, amd = _fake_target(root, (0, 16))
        elif tamper == "pdh_of_another_platform":
            pdh = _fake_target(root, certs.DEFAULT_API_VERSION)[0]
        elif tamper == "pek_of_another_platform":
            chain = _fake_target(root, certs.DEFAULT_API_VERSION)[1][:CERT] + chain[CERT:]
        elif tamper == "ask_of_another_root":
            other = _fake_target(other_root, certs.DEFAULT_API_VERSION)[2]
            amd = other[:len(other) // 2] + amd[len(amd) // 2:]
        elif tamper == "garbage_pdh":
            pdh = b"\xFF" * CERT
        elif tamper == "chain_order":
            chain = chain[CERT:2 * CERT] + chain[:CERT] + chain[2 * CERT:]
        elif tamper == "pdh_is_a_pek":
            pdh = chain[:CERT]
        elif tamper == "short_chain":
            chain = chain[:2 * CERT]
        elif tamper == "amd_length":
            amd = amd[:-1]
        await a.machine.write(SEND_SESSION, b"\xA5" * session.SESSION_SIZE, port="priv")
        before = await observe_source(a, handle)
        status, _ = await send_start(a, handle, (pdh, chain, amd))
        return status, before, await observe_source(a, handle)

    status, before, after = on_two(scenario, platform(root), platform(root))
    assert status is expected, f"{tamper}: {status.name}, expected {expected.name}"
    assert after == before, f"{tamper}: refused with {status.name} but changed something"


async def observe_source(firmware, handle):
    guest = firmware.guests[handle]
    return {"status": await ok(firmware, C.GUEST_STATUS, handle=handle), "store": firmware.store.snapshot(),
            "keys": (guest.tek, guest.tik, guest.vek),
            "session": await firmware.machine.read(SEND_SESSION, session.SESSION_SIZE, port="priv")}


def test_the_sev_bit_needs_this_platforms_ark(root, other_root):
    """SEV=1: only to a target under this platform's own ARK (the model's AMD root); SEV=0: any
    chain that verifies in itself."""
    async def scenario(a, b):
        await boot(a)
        await boot(b)
        results = []
        for policy, target in ((SEV, await exported_identity(b)), (SEV, _fake_target(other_root, (0, 24))),
                               (0, _fake_target(other_root, (0, 24)))):
            handle = await running_guest(a, policy, [os.urandom(PAGE)], asid=len(results) + 1)
            results.append((await send_start(a, handle, target))[0])
        return results

    assert on_two(scenario, platform(root), platform(root)) == [Status.SUCCESS, Status.POLICY_FAILURE,
                                                                Status.SUCCESS]


def test_the_domain_bit_needs_the_same_oca(root):
    """DOMAIN=1: both platforms owned by one owner (PEK_CERT_IMPORT under one OCA) may migrate;
    once the target goes back to its own OCA (PEK_GEN) they may not."""
    owner_key = ec.generate_private_key(ec.SECP384R1())
    owner_oca = certs.sign_sev_certificate(
        certs.make_sev_certificate(usage=certs.Usage.OCA, public_key=owner_key.public_key()),
        owner_key, usage=certs.Usage.OCA)
    pages = [os.urandom(PAGE)]

    async def take_ownership(firmware):
        machine = firmware.machine
        await ok(firmware, C.PEK_CSR, address=OUT, length=CERT)
        csr = certs.SEVCertificate.from_bytes(await machine.read(OUT, CERT, port="priv"))
        await machine.write(OUT, certs.sign_sev_certificate(csr, owner_key, usage=certs.Usage.OCA,
                                                            slot=1).to_bytes(), port="priv")
        await machine.write(OUT + 0x1000, owner_oca.to_bytes(), port="priv")
        await ok(firmware, C.PEK_CERT_IMPORT, pek_cert_address=OUT, pek_cert_length=CERT,
                 oca_cert_address=OUT + 0x1000, oca_cert_length=CERT)

    async def scenario(a, b):
        await boot(a)
        await boot(b)
        await take_ownership(a)
        await take_ownership(b)
        handle = await running_guest(a, DOMAIN, pages)
        source_pdh, blob, policy, packets = await send(a, handle, await exported_identity(b), 1)
        new = await receive(b, source_pdh, blob, policy, packets)
        moved = await b.machine.read(GUEST | CBIT, PAGE, asid=1, port="priv")
        await b.machine.wbinvd()
        await ok(b, C.DEACTIVATE, handle=new)
        await ok(b, C.DECOMMISSION, handle=new)
        await ok(b, C.PEK_GEN)
        other = await running_guest(a, DOMAIN, pages, asid=2)
        return moved, (await send_start(a, other, await exported_identity(b)))[0]

    moved, refused = on_two(scenario, platform(root), platform(root))
    assert moved == pages[0]
    assert refused is Status.POLICY_FAILURE


# RECEIVE: refused sessions and packets ------------------------------------------------------------

async def observe_target(firmware):
    machine = firmware.machine
    slots = KeySlotDriver(machine)
    return {"platform": await ok(firmware, C.PLATFORM_STATUS), "store": firmware.store.snapshot(),
            "guests": {h: (g.state, g.asid, g.tek, g.tik, g.vek, g.digest.digest(), g.packet_sequence)
                       for h, g in firmware.guests.items()},
            "slots": [await slots.valid(n) for n in range(machine.config.slots)],
            "memory": await machine.dram_read(GUEST, 2 * PAGE)}


def _flip(data, offset):
    data = bytearray(data)
    data[offset] ^= 1
    return bytes(data)


@pytest.mark.parametrize("tamper, expected", [
    ("session", Status.BAD_MEASUREMENT), ("policy", Status.BAD_MEASUREMENT),
    ("another_target", Status.BAD_MEASUREMENT), ("another_source_pdh", Status.BAD_MEASUREMENT),
    ("no_session", Status.INVALID_PARAM), ("short_session", Status.INVALID_LENGTH),
    ("pdh_is_a_pek", Status.INVALID_CERTIFICATE)])
def test_refused_receive_starts_change_nothing(root, tamper, expected):
    async def scenario(a, b):
        await boot(a)
        await boot(b)
        handle = await running_guest(a, 0, [os.urandom(PAGE)])
        identity = await exported_identity(b)
        if tamper == "another_target":
            identity = _fake_target(root, certs.DEFAULT_API_VERSION)
        source_pdh, blob, policy, _ = await send(a, handle, identity, 1)
        if tamper == "session":
            blob = _flip(blob, 0x10)
        elif tamper == "policy":
            policy = NOSEND
        elif tamper == "another_source_pdh":
            source_pdh = _fake_target(root, certs.DEFAULT_API_VERSION)[0]
        elif tamper == "pdh_is_a_pek":
            source_pdh = (await exported_identity(a))[1][:CERT]
        before = await observe_target(b)
        if tamper == "no_session":
            status = (await issue(b, C.RECEIVE_START, policy=policy, pdh_cert_address=OUT, pdh_cert_length=CERT))[0]
        elif tamper == "short_session":
            status = (await receive_start(b, source_pdh, blob[:64], policy))[0]
        else:
            status = (await receive_start(b, source_pdh, blob, policy))[0]
        return status, before, await observe_target(b)

    status, before, after = on_two(scenario, platform(root), platform(root))
    assert status is expected, f"{tamper}: {status.name}"
    assert after == before and after["platform"]["guest_count"] == 0


@pytest.mark.parametrize("tamper, expected", [
    ("mac", Status.BAD_MEASUREMENT), ("trans", Status.BAD_MEASUREMENT), ("iv", Status.BAD_MEASUREMENT),
    ("another_migration", Status.BAD_MEASUREMENT), ("flags", Status.UNSUPPORTED),
    ("guest_len", Status.INVALID_LENGTH), ("header_length", Status.INVALID_LENGTH),
    ("unaligned", Status.INVALID_ADDRESS), ("inactive", Status.INACTIVE), ("vmsa_not_es", Status.POLICY_FAILURE)])
def test_refused_packets_change_nothing(root, tamper, expected):
    async def scenario(a, b):
        await boot(a)
        await boot(b)
        handle = await running_guest(a, 0, [os.urandom(PAGE)])
        source_pdh, blob, policy, [packet] = await send(a, handle, await exported_identity(b), 1)
        new = (await receive_start(b, source_pdh, blob, policy))[1]["handle"]
        if tamper != "inactive":
            await ok(b, C.ACTIVATE, handle=new, asid=1)
            await b.machine.write(GUEST | CBIT, os.urandom(2 * PAGE), port="priv", asid=1)
        header, trans = packet.header, packet.trans
        address, command = GUEST | CBIT, C.RECEIVE_UPDATE_DATA
        if tamper == "mac":
            header = SecretHeader(0, header.iv, _flip(header.mac, 3))
        elif tamper == "trans":
            trans = _flip(trans, 100)
        elif tamper == "iv":
            header = SecretHeader(0, _flip(header.iv, 15), header.mac)
        elif tamper == "another_migration":
            other = await running_guest(a, 0, [packet.trans], asid=2)       # same page size, other keys
            [foreign] = (await send(a, other, await exported_identity(b), 1))[3]
            header, trans = foreign.header, foreign.trans
        elif tamper == "flags":
            header = SecretHeader(1, header.iv, header.mac)
        elif tamper == "unaligned":
            address += 8
        elif tamper == "vmsa_not_es":
            command = C.RECEIVE_UPDATE_VMSA
        before = await observe_target(b)
        if tamper in ("guest_len", "header_length"):
            await b.machine.write(HEADER, header.to_bytes(), port="priv")
            await b.machine.write(TRANS, trans, port="priv")
            status = (await issue(b, command, handle=new, header_address=HEADER,
                                  header_length=51 if tamper == "header_length" else 52, guest_address=address,
                                  guest_length=PAGE - 16 if tamper == "guest_len" else PAGE,
                                  trans_address=TRANS, trans_length=PAGE))[0]
        else:
            status = (await put_secret(b, new, SecretPacket(header, trans, PAGE), address, command=command))[0]
        return status, before, await observe_target(b)

    status, before, after = on_two(scenario, platform(root), platform(root))
    assert status is expected, f"{tamper}: {status.name}"
    assert after == before, f"{tamper}: refused with {status.name} but changed something"


def test_replayed_and_reordered_packets_are_refused_and_change_nothing(root):
    """The MAC covers the packet's sequence number in its migration [U]: a packet delivered
    again (to its own page or another) or before its predecessor is BAD_MEASUREMENT, changes
    nothing (the target's count included), and the right packet is still accepted after."""
    pages = [os.urandom(PAGE) for _ in range(PAGES)]

    async def scenario(a, b):
        r = {}
        await boot(a)
        await boot(b)
        handle = await running_guest(a, 0, pages)
        source_pdh, blob, policy, packets = await send(a, handle, await exported_identity(b), PAGES)
        r["source_count"] = a.guests[handle].packet_sequence
        new = (await receive_start(b, source_pdh, blob, policy))[1]["handle"]
        await ok(b, C.ACTIVATE, handle=new, asid=1)

        async def deliver(n, page):
            return (await put_secret(b, new, packets[n], GUEST + page * PAGE | CBIT,
                                     command=C.RECEIVE_UPDATE_DATA))[0]

        async def refused(n, page):
            before = await observe_target(b)
            status = await deliver(n, page)
            return status, await observe_target(b) == before

        r["first"] = await deliver(0, 0)
        r["replayed"] = await refused(0, 0)
        r["replayed_elsewhere"] = await refused(0, 1)
        r["swapped"] = await refused(2, 2)                   # packet 2 before packet 1
        r["in_order"] = [await deliver(1, 1), await deliver(2, 2)]
        r["replayed_last"] = await refused(2, 2)
        r["target_count"] = b.guests[new].packet_sequence
        await ok(b, C.RECEIVE_FINISH, handle=new)
        r["moved"] = await b.machine.read(GUEST | CBIT, PAGES * PAGE, asid=1, port="priv")
        return r

    r = on_two(scenario, platform(root), platform(root))
    assert r["source_count"] == PAGES, f"the source counted {r['source_count']} packets, sent {PAGES}"
    assert r["first"] is Status.SUCCESS, r["first"].name
    for name in ("replayed", "replayed_elsewhere", "swapped", "replayed_last"):
        status, unchanged = r[name]
        assert status is Status.BAD_MEASUREMENT, f"{name}: {status.name}, expected BAD_MEASUREMENT"
        assert unchanged, f"{name}: refused but changed something"
    assert r["in_order"] == [Status.SUCCESS] * 2, r["in_order"]
    assert r["target_count"] == PAGES
    assert r["moved"] == b"".join(pages), "the guest did not arrive intact after the refusals"


def test_a_receive_that_fails_part_way_does_not_advance_the_count(root, monkeypatch):
    """Writing guest memory fails after the packet's MAC has checked: the target's count stays,
    so the same packet is accepted when delivered again."""
    page = os.urandom(PAGE)

    async def scenario(a, b):
        await boot(a)
        await boot(b)
        handle = await running_guest(a, 0, [page])
        source_pdh, blob, policy, [packet] = await send(a, handle, await exported_identity(b), 1)
        new = (await receive_start(b, source_pdh, blob, policy))[1]["handle"]
        await ok(b, C.ACTIVATE, handle=new, asid=1)

        async def failing_write(guest, address, data):
            raise SEVError(Status.HWERROR_PLATFORM, "injected")
        with monkeypatch.context() as patch:
            patch.setattr(b, "_write_guest", failing_write)
            failed = (await put_secret(b, new, packet, GUEST | CBIT, command=C.RECEIVE_UPDATE_DATA))[0]
        count = b.guests[new].packet_sequence
        again = (await put_secret(b, new, packet, GUEST | CBIT, command=C.RECEIVE_UPDATE_DATA))[0]
        return failed, count, again, b.guests[new].packet_sequence, await b.machine.read(GUEST | CBIT, PAGE, asid=1,
                                                                                   port="priv")

    failed, count, again, final, moved = on_two(scenario, platform(root), platform(root))
    assert failed is Status.HWERROR_PLATFORM
    assert count == 0, f"a failed RECEIVE_UPDATE_DATA advanced the count to {count}"
    assert (again, final, moved) == (Status.SUCCESS, 1, page)


def test_packet_crypto_round_trip_and_mac_input():
    """The packet functions on their own: the documented MAC input (the sequence number last,
    a little-endian u64), a round trip, each kind, the sequence number checked."""
    tek, tik, iv, data = os.urandom(16), os.urandom(16), os.urandom(16), os.urandom(64)
    packet = migration.seal_packet(tek, tik, data, iv=iv, sequence=5)
    assert packet.trans == session.aes_128_ctr(tek, iv, data)
    assert packet.header.mac == session.hmac_sha256(tik, b"\x02", bytes(4), iv, (64).to_bytes(4, "little") * 2,
                                                    packet.trans, (5).to_bytes(8, "little"))
    first = migration.seal_packet(tek, tik, data, iv=iv)
    assert first.header.mac == session.hmac_sha256(tik, b"\x02", bytes(4), iv, (64).to_bytes(4, "little") * 2,
                                                   packet.trans, bytes(8)), "the default sequence number is 0"
    assert migration.open_packet(tek, tik, packet.header, packet.trans, 64, sequence=5) == data
    for sequence in (0, 4, 6, 5 + (1 << 32)):
        with pytest.raises(migration.PacketMACError):
            migration.open_packet(tek, tik, packet.header, packet.trans, 64, sequence=sequence)
    with pytest.raises(migration.PacketMACError):
        migration.open_packet(tek, tik, packet.header, packet.trans, 64, vmsa=True, sequence=5)
    with pytest.raises(migration.PacketLengthError):
        migration.open_packet(tek, tik, packet.header, packet.trans, 48, sequence=5)
    for bad in (-1, 1 << 64, True):
        with pytest.raises(ValueError):
            migration.packet_mac(tik, 0, iv, 64, packet.trans, sequence=bad)
