"""``sevlab launch --image FILE``: launch a guest whose initial memory is that image (the OVMF
role), as QEMU and KVM would on one model platform, and print what a guest owner checks: the launch
digest (from the PEK-signed attestation report), the measurement and its nonce, the firmware's API
version and build, and the policy.

With ``--kernel`` (and ``--initrd``, ``--append``) the host adds QEMU's kernel-hashes table after
the image (``sev-reference.md`` §9). With ``--tik``/``--tek`` the guest owner's transport keys come
from files (16 raw bytes each, as sevctl writes them), so that an independent tool can recompute
the measurement. The owner checks the measurement against the digest it computes itself; a
mismatch is reported and exits 1. Bad input is one line and exit 2.
"""

import json
import os
import pathlib
import sys

from .cli import CommandError, add_serial_arguments, serial_options
from .machine import BACKENDS

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "launch"
HELP = "launch a guest from an image (OVMF role, optional kernel/initrd/append) and print its measurement"
KEY_SIZE = 16


def add_arguments(parser):
    parser.add_argument("--image", required=True, metavar="FILE", help="the initial guest image (e.g. OVMF.fd)")
    parser.add_argument("--kernel", metavar="FILE", help="add QEMU's kernel-hashes table for this kernel")
    parser.add_argument("--initrd", metavar="FILE", help="with --kernel")
    parser.add_argument("--append", metavar="TEXT", help="the kernel command line, with --kernel")
    parser.add_argument("--policy", type=lambda text: int(text, 0), default=0,
                        help="the guest policy (default 0; 0x.. accepted)")
    parser.add_argument("--tik", metavar="FILE", help="the guest owner's TIK (16 bytes)")
    parser.add_argument("--tek", metavar="FILE", help="the guest owner's TEK (16 bytes)")
    parser.add_argument("--backend", default="model",
                        help=f"one of {', '.join(BACKENDS)} (default %(default)s: a multi-MiB image takes "
                             "hours on the RTL backends)")
    parser.add_argument("--json", action="store_true",
                        help='print {"launch_digest", "measurement", "mnonce", "api_major", "api_minor", '
                             '"build", "policy"}')
    add_serial_arguments(parser)


def _read(path, what, size=None):
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if size is not None and len(data) != size:
        raise CommandError(f"{what} {path}: {len(data)} bytes, must be {size}")
    if not data and what == "image":
        raise CommandError(f"the image {path} is empty")
    return data


def launch_scenario(image, *, policy=0, kernel=None, initrd=None, append=None, tik=None, tek=None):
    """The launch as ``async def scenario(machine)`` and the digest the guest owner expects:
    ``(scenario, expected_digest, image_bytes)``. The scenario returns ``(measurement, platform
    status, attestation report, the owner's refusal or None)``; ``image_bytes`` is the image
    padded to LAUNCH_UPDATE_DATA's 16 bytes."""
    from ..firmware import measurement
    from ..firmware.certs import SimulatedAMDRoot
    from ..firmware.platform import SEVFirmware, manufacture
    from ..firmware.store import PlatformStore
    from ..hypervisor.hostmem import PAGE
    from ..hypervisor.kvm import KVM
    from ..hypervisor.owner import GuestOwner, OwnerRefused

    table = measurement.kernel_hashes_table(kernel, initrd, append) if kernel is not None else b""
    padded = image + bytes(-len(image) % 16)           # LAUNCH_UPDATE_DATA takes multiples of 16
    expected = measurement.expected_launch_digest(padded, kernel=kernel, initrd=initrd, cmdline=append)

    root = SimulatedAMDRoot.generate(bits=2048)
    store = PlatformStore()
    manufacture(store, root)
    image_bytes = len(padded)
    table_gpa = -(-image_bytes // PAGE) * PAGE
    ram = table_gpa + (PAGE if table else 0) or PAGE

    async def scenario(machine):
        firmware = SEVFirmware(machine, store)
        await firmware.power_on()
        kvm = await KVM.start(machine, firmware)
        owner = GuestOwner(policy, root.ark, tek=tek, tik=tik)
        pdh, chain = await kvm.pdh_cert_export()
        owner.verify_platform(*kvm.amd_certificates(), pdh, chain)
        vm = kvm.create_vm()
        kvm.add_ram(vm, 0, ram)
        await kvm.sev_init(vm)
        godh, session = owner.launch_blobs()
        await kvm.launch_start(vm, policy, godh_cert=godh, session=session)
        # QEMU loads the image (padded to 16 bytes: the firmware's unit), then the table.
        await kvm.write_guest_ram(vm, 0, padded)
        await kvm.launch_update_data(vm, 0, image_bytes)
        if table:
            await kvm.write_guest_ram(vm, table_gpa, table)
            await kvm.launch_update_data(vm, table_gpa, len(table))
        measured = await kvm.launch_measure(vm)
        status = await kvm.platform_status()
        try:
            owner.check_measurement(measured, status["api_major"], status["api_minor"], status["build"], expected)
            verdict = None
        except OwnerRefused as error:
            verdict = str(error)
        await kvm.launch_finish(vm)
        mnonce = os.urandom(16)
        report = await kvm.attestation(vm, mnonce)
        if verdict is None:
            owner.verify_attestation(report, mnonce, expected)
        return measured, status, report, verdict

    return scenario, expected, image_bytes


def run(args):
    from ..hypervisor.kvm import FirmwareError
    from .machine import make_machine

    if args.backend not in BACKENDS:
        raise CommandError(f"--backend must be one of {', '.join(BACKENDS)}, not {args.backend!r}")
    if (args.initrd or args.append is not None) and not args.kernel:
        raise CommandError("--initrd and --append need --kernel (QEMU measures them only with -kernel)")
    if not 0 <= args.policy < 1 << 32:
        raise CommandError(f"--policy must be a u32, not {args.policy:#x}")
    options = serial_options(args)
    image = _read(args.image, "image")
    scenario, _, image_bytes = launch_scenario(
        image, policy=args.policy, kernel=_read(args.kernel, "kernel") if args.kernel else None,
        initrd=_read(args.initrd, "initrd") if args.initrd else None, append=args.append,
        tik=_read(args.tik, "TIK", KEY_SIZE) if args.tik else None,
        tek=_read(args.tek, "TEK", KEY_SIZE) if args.tek else None)

    from .machine.serial import SerialLinkError
    try:
        measured, status, report, verdict = make_machine(args.backend, **options).run(scenario)
    except FirmwareError as error:
        raise CommandError(f"the firmware refused the launch: {error}") from None
    except SerialLinkError as error:
        raise CommandError(f"the serial link failed: {error}") from None
    from ..firmware.certs import AttestationReport
    launch_digest = AttestationReport.from_bytes(report).launch_digest
    result = {"launch_digest": launch_digest.hex(), "measurement": measured[:32].hex(),
              "mnonce": measured[32:48].hex(), "api_major": status["api_major"],
              "api_minor": status["api_minor"], "build": status["build"], "policy": args.policy}
    out = sys.stdout
    if args.json:
        json.dump(result, out)
        out.write("\n")
    else:
        out.write(f"launch digest  {result['launch_digest']}\n"
                  f"measurement    {result['measurement']}\n"
                  f"mnonce         {result['mnonce']}\n"
                  f"firmware       API {status['api_major']}.{status['api_minor']} build {status['build']} "
                  f"(the model's)\npolicy         {args.policy:#x}\n"
                  f"the guest owner's check: {'the measurement matches its own digest' if verdict is None else verdict}"
                  f"\n")
    if image_bytes != len(image):
        sys.stderr.write(f"sevlab: note: the image was padded from {len(image)} to {image_bytes} bytes "
                         f"(LAUNCH_UPDATE_DATA takes multiples of 16); the digest covers the padding\n")
    return 0 if verdict is None else 1
