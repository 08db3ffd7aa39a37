"""The VMM's part of a launch (QEMU's role): guest RAM, the owner's session, the image loaded and
measured, the measurement shown to the owner, its secret injected, the guest started.

One function, so that the demo, the attack demonstrations and the tests launch guests the same
way. The owner's checks happen inside it: a wrong chain, root or measurement raises
:class:`~sevlab.hypervisor.owner.OwnerRefused` and the guest never gets the secret.
"""

import hashlib

__all__ = ["launch_guest", "verify_platform"]


async def verify_platform(kvm, owner):
    """The owner checks the platform's chain as the host exports it; returns the report."""
    pdh, chain = await kvm.pdh_cert_export()
    return owner.verify_platform(*kvm.amd_certificates(), pdh, chain)


async def launch_guest(kvm, owner, *, image, ram_size, secret_gpa=None, secrets=(), mnonce=None):
    """Launch a guest for ``owner`` (a :class:`GuestOwner`; its platform check is done here
    unless it was done before) whose RAM starts with ``image``; returns ``(vm, record)``.

    ``secrets`` is OVMF's secret table ``[(GUID, bytes)]``, injected at ``secret_gpa`` after the
    owner checked the measurement; ``mnonce`` asks for an attestation report the owner checks.
    ``record`` holds what the steps gave: handle, measurement, platform status, digest, report.
    """
    if owner.pdh is None:
        await verify_platform(kvm, owner)
    vm = kvm.create_vm()
    kvm.add_ram(vm, 0, ram_size)
    await kvm.sev_init(vm)
    godh, session = owner.launch_blobs()
    record = {"handle": await kvm.launch_start(vm, owner.policy, godh_cert=godh, session=session)}
    await kvm.write_guest_ram(vm, 0, image)
    await kvm.launch_update_data(vm, 0, len(image))
    record["measurement"] = await kvm.launch_measure(vm)
    status = await kvm.platform_status()
    digest = hashlib.sha256(image).digest()
    owner.check_measurement(record["measurement"], status["api_major"], status["api_minor"], status["build"],
                            digest)
    if secrets:
        header, trans = owner.secret_packet(list(secrets))
        await kvm.launch_secret(vm, header, secret_gpa, trans)
        record["secret_bytes"] = len(trans)
    await kvm.launch_finish(vm)
    if mnonce is not None:
        record["attestation"] = owner.verify_attestation(await kvm.attestation(vm, mnonce), mnonce, digest)
    record["status"], record["digest"] = status, digest
    return vm, record
