"""The hypervisor (hypervisor/kvm.py), the guest OS and the guest owner together on the model
backend: a launch with attestation and a secret, a running guest with private and shared pages
and block I/O, teardown and ASID reclaim, and the host holding no key."""

import hashlib
import uuid

import pytest

from sevlab.firmware.platform import SEVFirmware
from sevlab.firmware.secret import parse_secret_table
from sevlab.hypervisor.asids import ASIDAllocator, NoASID
from sevlab.hypervisor.blockdev import BlockDevice
from sevlab.hypervisor.guest_os import BlockDriver, GuestOS
from sevlab.hypervisor.hostmem import PAGE
from sevlab.hypervisor.kvm import KVM, FirmwareError
from sevlab.hypervisor.psp import COMMAND_BUFFER
from sevlab.hypervisor.owner import GuestOwner, OwnerRefused
from sevlab.hypervisor.vcpu import VCPU
from sevlab.hypervisor.vmm import launch_guest
from sevlab.firmware.certs import AMDCertificate
from sevlab.firmware.status import Status
from sevlab.sim.machine import run

RAM = 4 * PAGE
IMAGE = b"".join(hashlib.sha256(bytes([n])).digest() for n in range(2 * PAGE // 32))   # two pages
SECRET_GPA = 2 * PAGE
BOUNCE_GPA = 3 * PAGE
GUID = uuid.UUID("736869e5-84f0-4973-92ec-06879ce3da0b")
NODBG = 1


def on_model(scenario, store, host_sme=False, tsme=False):
    async def top(machine):
        firmware = SEVFirmware(machine, store)
        await firmware.power_on(tsme=tsme)
        kvm = await KVM.start(machine, firmware, host_sme=host_sme)
        return await scenario(kvm, firmware)
    return run(top, backend="model")[0]


async def launch(kvm, policy=0, image=IMAGE):
    """The whole launch of a guest with an owner who trusts the platform's root: (vm, owner)."""
    owner = GuestOwner(policy, AMDCertificate.from_bytes(kvm.amd_certificates()[0]))
    vm, _ = await launch_guest(kvm, owner, image=image, ram_size=RAM, secret_gpa=SECRET_GPA,
                               secrets=[(GUID, b"the disk passphrase")])
    return vm, owner


@pytest.mark.parametrize("host_sme", [False, True])
def test_launch_secret_private_and_shared_pages_and_block_io(make_store, host_sme):
    async def scenario(kvm, firmware):
        vm, _ = await launch(kvm)
        guest = GuestOS(VCPU(kvm, vm))
        await guest.boot(vm.ram)
        r = {"image": await guest.read(0, len(IMAGE)),
             "table": parse_secret_table(await guest.read(SECRET_GPA, 64)),
             "state": (await kvm.guest_status(vm))["state"],
             "cbit": guest.me_mask == kvm.cbit}
        # The host reads the image's page through its own mapping: ciphertext.
        r["host_view"] = await kvm.read_guest_ram(vm, 0, 64)
        # Share a page (its private contents become noise: not kept), use it, do block I/O
        # through it.
        await guest.write(BOUNCE_GPA, b"private before sharing".ljust(64, b"."))
        await guest.set_memory_decrypted(BOUNCE_GPA)
        r["after_sharing"] = await guest.read(BOUNCE_GPA, 64)
        await guest.write(BOUNCE_GPA, b"shared from now on".ljust(64, b"."))
        r["kept"] = await guest.read(BOUNCE_GPA, 64)
        r["host_sees_shared"] = await kvm.read_guest_ram(vm, BOUNCE_GPA, 64)
        r["shared_set"] = set(vm.shared)
        disk = BlockDevice(kvm, vm, image=b"".join(bytes([n]) * 512 for n in range(4)))
        driver = BlockDriver(guest, disk, BOUNCE_GPA)
        await driver.read(2, SECRET_GPA + PAGE // 2)
        r["sector"] = await guest.read(SECRET_GPA + PAGE // 2, 512)
        await guest.write(PAGE, b"written by the guest".ljust(512, b"!"))
        await driver.write(3, PAGE)
        r["disk"] = bytes(disk.image[3 * 512:4 * 512])
        return r

    r = on_model(scenario, make_store(), host_sme)
    assert r["image"] == IMAGE and r["cbit"] and r["state"] == 3      # RUNNING
    assert r["table"] == [(GUID, b"the disk passphrase")]
    assert r["host_view"] != IMAGE[:64]
    assert r["after_sharing"] != b"private before sharing".ljust(64, b".")
    assert r["kept"] == r["host_sees_shared"] == b"shared from now on".ljust(64, b".")
    assert r["shared_set"] == {BOUNCE_GPA}
    assert r["sector"] == bytes([2]) * 512
    assert r["disk"] == b"written by the guest".ljust(512, b"!")


def test_owner_refuses_a_wrong_root_and_a_wrong_measurement(make_store, root):
    from sevlab.firmware import certs
    other_root = certs.SimulatedAMDRoot.generate(bits=2048)

    async def scenario(kvm, firmware):
        pdh, chain = await kvm.pdh_cert_export()
        stranger = GuestOwner(0, other_root.ark)
        with pytest.raises(OwnerRefused, match="not the root"):
            stranger.verify_platform(*kvm.amd_certificates(), pdh, chain)
        with pytest.raises(OwnerRefused, match="does not verify"):
            bad = bytearray(pdh)
            bad[0x41C] ^= 1                          # R of the PEK's signature
            GuestOwner(0, root.ark).verify_platform(*kvm.amd_certificates(), bytes(bad), chain)
        with pytest.raises(OwnerRefused, match="verify the platform"):
            GuestOwner(0, root.ark).launch_blobs()
        # A launch whose image is not the one the owner expects.
        vm = kvm.create_vm()
        kvm.add_ram(vm, 0, RAM)
        await kvm.sev_init(vm)
        owner = GuestOwner(0, root.ark)
        owner.verify_platform(*kvm.amd_certificates(), pdh, chain)
        godh, session = owner.launch_blobs()
        await kvm.launch_start(vm, 0, godh_cert=godh, session=session)
        await kvm.write_guest_ram(vm, 0, IMAGE)
        await kvm.launch_update_data(vm, 0, len(IMAGE))
        measure = await kvm.launch_measure(vm)
        status = await kvm.platform_status()
        with pytest.raises(OwnerRefused, match="launch measurement"):
            owner.check_measurement(measure, status["api_major"], status["api_minor"], status["build"],
                                    hashlib.sha256(b"another image").digest())
        with pytest.raises(OwnerRefused, match="no secret"):
            owner.secret_packet([(GUID, b"x")])
        return True

    assert on_model(scenario, make_store())


def test_teardown_reclaims_the_asid_only_after_wbinvd_and_df_flush(make_store):
    async def scenario(kvm, firmware):
        kvm.asids = ASIDAllocator(kvm.asids.min_sev_asid, kvm.asids.min_sev_asid)   # one ASID only
        vm, _ = await launch(kvm)
        asid = vm.asid
        await kvm.destroy(vm)
        r = {"reclaimable": set(kvm.asids.reclaimable), "dirty": set(firmware.dirty_asids)}
        # The next VM finds nothing free: KVM recycles (WBINVD, DF_FLUSH) and reuses the ASID.
        second, _ = await launch(kvm)
        r["reused"] = second.asid == asid
        r["after"] = (set(kvm.asids.reclaimable), set(firmware.dirty_asids))
        third = kvm.create_vm()
        with pytest.raises(NoASID):
            await kvm.sev_init(third)
        return r

    r = on_model(scenario, make_store())
    assert r["reclaimable"] == {1} and r["dirty"] == {1}
    assert r["reused"] and r["after"] == (set(), set())


def test_a_nodbg_guest_refuses_debug_and_a_debuggable_one_does_not(make_store):
    async def scenario(kvm, firmware):
        open_vm, _ = await launch(kvm, policy=0)
        plain = await kvm.dbg_decrypt(open_vm, 0, 64)
        closed_vm, _ = await launch(kvm, policy=NODBG)
        with pytest.raises(FirmwareError) as refused:
            await kvm.dbg_decrypt(closed_vm, 0, 64)
        return plain, refused.value.status

    plain, status = on_model(scenario, make_store())
    assert plain == IMAGE[:64] and status is Status.POLICY_FAILURE


def _secrets_of(firmware):
    return {bytes(getattr(guest, name)) for guest in firmware.guests.values()
            for name in ("vek", "tek", "tik")}


def _everything_in(obj, seen=None):
    """Every bytes-like value reachable from ``obj``'s attributes, containers included."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray)):
        yield bytes(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _everything_in(key, seen)
            yield from _everything_in(value, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from _everything_in(item, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sevlab.hypervisor"):
        for value in vars(obj).values():
            yield from _everything_in(value, seen)


def test_under_tsme_host_memory_is_ciphertext_in_dram_and_the_guest_runs(make_store):
    """TSME, a platform mode: the unit encrypts every host line with slot 0, C-bit or not. The
    host maps its memory without the C-bit and reads its command buffer and the guest's shared
    page in plaintext, DRAM holds both encrypted; the launch, the secret and sharing work as
    without TSME."""
    async def scenario(kvm, firmware):
        vm, _ = await launch(kvm)
        guest = GuestOS(VCPU(kvm, vm))
        await guest.boot(vm.ram)
        table = dict(parse_secret_table(await guest.read(SECRET_GPA, 64)))
        await guest.set_memory_decrypted(BOUNCE_GPA)
        text = b"shared with the host under TSME".ljust(64, b".")
        await guest.write(BOUNCE_GPA, text)
        host_sees = await kvm.read_guest_ram(vm, BOUNCE_GPA, 64)
        await kvm.platform_status()                     # the driver writes its command buffer
        buffer_host = await kvm.memory.read(COMMAND_BUFFER, 64)
        await kvm.machine.wbinvd()
        spa, _ = vm.npt.translate(BOUNCE_GPA)
        return (table, text, host_sees, kvm.memory.me_mask, await kvm.machine.dram_read(spa, 64),
                buffer_host, await kvm.machine.dram_read(COMMAND_BUFFER, 64))

    table, text, host_sees, me_mask, dram, buffer_host, buffer_dram = on_model(scenario, make_store(), tsme=True)
    assert table[GUID] == b"the disk passphrase"
    assert me_mask == 0 and host_sees == text and dram != text
    assert buffer_host != buffer_dram and buffer_host[:4] != bytes(4)       # a status, in the clear to the host


def test_the_host_holds_no_guest_key(make_store):
    """Through a launch with a session and a secret, a run and a debug read, no VEK, TEK or TIK
    is in anything the host wrote to memory (every buffer its driver passed the firmware) nor in
    anything its objects keep (KVM, its VMs, their page tables; the firmware it drives is not
    the host's)."""
    async def scenario(kvm, firmware):
        passed = []
        write = kvm.memory.write

        async def recording(address, data):
            passed.append(bytes(data))
            await write(address, data)
        kvm.memory.write = recording
        vm, _ = await launch(kvm)
        await kvm.dbg_decrypt(vm, 0, 64)
        keys = _secrets_of(firmware)
        firmware_ref, kvm.psp.firmware = kvm.psp.firmware, None
        held = b"".join(_everything_in(kvm))
        kvm.psp.firmware = firmware_ref
        return keys, passed, held

    keys, passed, held = on_model(scenario, make_store())
    assert len(keys) == 3 and all(len(key) in (16, 32) for key in keys)
    # What was passed includes the owner's sealed blobs: the GODH certificate, the session (128
    # bytes, holding TEK and TIK wrapped) and the secret header; none holds a key in the clear.
    assert any(len(blob) == 2084 for blob in passed) and any(len(blob) == 128 for blob in passed)
    assert not any(key in blob for key in keys for blob in passed + [held])
