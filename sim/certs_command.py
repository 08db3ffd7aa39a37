"""``sevlab certs``: verify a SEV certificate chain, or export a simulated one.

``sevlab certs verify FILE...`` takes AMD CA certificates (ARK, ASK) and SEV certificates (CEK,
OCA, PEK, PDH) in any order, tells each apart by its own fields, checks the chain
ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH and prints one line per certificate and per signature.
Exit status 0: every signature verified and no role is missing; 1: a signature, a link or a role
failed; 2: a file could not be read or parsed. ``sevlab certs export DIR [--store FILE]`` writes
the chain of a model platform — the one persisted in FILE (made there on first use), or a new
one — as its firmware exports it: PDH_CERT_EXPORT through the mailbox for the PDH, PEK, OCA and
CEK, and the ARK and ASK of its simulated AMD root (marked as such in every output), as a host
would fetch AMD's from the key server. See ``firmware/README.md``.
"""

import pathlib
import sys

from ..firmware.certs import (SIMULATED_MARK, AMDCertificate, CertificateError, ChainError,
                              PlatformChain, SEVCertificate, SimulatedAMDRoot, certificate_line,
                              load_certificate, verify_chain)
from ..firmware.commands import CommandId
from ..firmware.platform import SEVFirmware, check_store, manufacture
from ..firmware.states import PlatformState
from ..firmware.store import PlatformStore
from ..hypervisor.psp import PSPDriver
from .cli import CommandError
from .machine import run as run_machine

__all__ = ["NAME", "HELP", "add_arguments", "run", "verify_files", "open_platform", "export_chain"]

NAME = "certs"
HELP = ("verify a SEV certificate chain (ARK, ASK, CEK, OCA, PEK, PDH files in any order), or "
        "export a model platform's chain (under a simulated AMD root)")


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser(
        "verify", help="identify each certificate from its own fields and verify the chain",
        description="Identify each file from its own fields (AMD CA: ARK/ASK by key_usage; SEV: "
                    "CEK/OCA/PEK/PDH by pub_key_usage) and verify ARK -> ASK -> CEK -> PEK <- "
                    "OCA, PEK -> PDH. Exit 0 when every signature verifies, 1 when a signature "
                    "or a link fails or a certificate is missing, 2 when a file cannot be read "
                    "or parsed.")
    verify.add_argument("files", nargs="+", metavar="FILE")
    export = actions.add_parser(
        "export", help="write a model platform's chain, as its firmware exports it",
        description="Write ark.cert, ask.cert, cek.cert, oca.cert, pek.cert and pdh.cert of a model "
                    "platform: the one kept in --store FILE (a new one is made and saved there if "
                    "FILE does not exist), else a new one that is not kept. The firmware model "
                    "runs INIT and PDH_CERT_EXPORT through its mailbox; the ARK and ASK are its "
                    "simulated AMD root's, whose key IDs read 'SEVLAB SIMULATED'. No private key "
                    "is written anywhere but the store.")
    export.add_argument("directory", metavar="DIR", help="created if missing")
    export.add_argument("--store", metavar="FILE", type=pathlib.Path,
                        help="the platform's persistent state (JSON); made on first use")
    export.add_argument("--ark-bits", type=int, choices=(2048, 4096), default=None,
                        help="RSA size of a new platform's simulated ARK and ASK: 4096 signs with "
                             "SHA-384 (Rome onwards), 2048 with SHA-256 (Naples); default 4096. "
                             "Only for a new platform: a stored one keeps its root")
    export.add_argument("--force", action="store_true", help="overwrite existing .cert files")


def _read(path):
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return load_certificate(data)
    except CertificateError as error:
        raise CommandError(f"{path}: {error}") from None


def verify_files(paths, out=None):
    """Verify the chain the files make; returns the exit status (0 or 1).

    Raises
    ------
    CommandError
        A file cannot be read or is not a certificate (before anything is printed).
    """
    out = out or sys.stdout
    loaded = [(path, _read(path)) for path in paths]
    try:
        report = verify_chain(cert for _, cert in loaded)
    except ChainError as error:
        for path, cert in loaded:
            out.write(certificate_line(cert, path) + "\n")
        out.write(f"FAIL  {error}\n")
        return 1
    for line in report.lines({cert.usage: path for path, cert in loaded}):
        out.write(line + "\n")
    return 0 if report.ok else 1


def open_platform(path, *, ark_bits=None):
    """The platform store at ``path`` (made and manufactured under a new simulated root if the
    file does not exist), or a new in-memory one when ``path`` is None; returns ``(store, what)``
    with ``what`` saying which it is.

    Raises
    ------
    CommandError
        The file cannot be read, is not a store, holds no platform, or ``ark_bits`` asks a stored
        platform for another root.
    """
    if path is not None and path.exists():
        try:
            store = PlatformStore(path)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        if "cek_key" not in store:
            raise CommandError(f"{path} holds no sevlab platform (no manufactured chip)")
        try:
            check_store(store)
        except ValueError as error:
            raise CommandError(f"{path}: {error}") from None
        bits = AMDCertificate.from_bytes(bytes.fromhex(store.get("ark_cert"))).bits
        if ark_bits not in (None, bits):
            raise CommandError(f"the platform in {path} has an RSA-{bits} root; --ark-bits "
                               f"{ark_bits} applies only to a new platform")
        return store, f"the platform kept in {path}"
    store = PlatformStore(path)
    manufacture(store, SimulatedAMDRoot.generate(bits=ark_bits or 4096))
    if path is None:
        return store, "a new platform, not kept (--store FILE keeps one)"
    return store, f"a new platform, kept in {path}"


async def _exported_chain(firmware):
    """(ARK, ASK, CEK, OCA, PEK, PDH) as a host gets them: INIT if needed (the first INIT
    makes the OCA, PEK and PDH) and PDH_CERT_EXPORT through the mailbox; the ARK and ASK are
    the manufactured ones (AMD's key server's role)."""
    psp = PSPDriver(firmware)
    if (await psp.call(CommandId.PLATFORM_STATUS))["state"] == PlatformState.UNINIT:
        await psp.call(CommandId.INIT)
    size = SEVCertificate.SIZE
    pdh_address = psp.buffer_address + 0x1000
    chain_address = pdh_address + size
    await psp.call(CommandId.PDH_CERT_EXPORT, pdh_cert_address=pdh_address, pdh_cert_length=size,
                   cert_chain_address=chain_address, cert_chain_length=3 * size)
    machine = firmware.machine
    raw_pdh = await machine.read(pdh_address, size, port="priv")
    raw_chain = await machine.read(chain_address, 3 * size, port="priv")
    pek, oca, cek = (SEVCertificate.from_bytes(raw_chain[n * size:(n + 1) * size]) for n in range(3))
    ark, ask = firmware.platform_chain()[:2]
    return ark, ask, cek, oca, pek, SEVCertificate.from_bytes(raw_pdh)


def export_chain(directory, *, store_path=None, ark_bits=None, force=False, out=None):
    """Write the six certificate files of a model platform (see :func:`open_platform`);
    returns 0.

    Raises
    ------
    CommandError
        DIR is not a directory, a file exists (without ``force``), the store is unusable, or a
        write fails.
    """
    out = out or sys.stdout
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"{directory} is not a directory")
    targets = [directory / name for name in PlatformChain.FILE_NAMES]
    existing = [str(target) for target in targets if target.exists()]
    if existing and not force:
        raise CommandError(f"{existing[0]} exists; not overwriting it without --force")
    store, what = open_platform(store_path, ark_bits=ark_bits)
    chain = run_machine(lambda machine: _exported_chain(SEVFirmware(machine, store)),
                        backend="model")[0]
    report = verify_chain(chain)
    if not report.ok:           # the firmware signing its own chain wrongly is a bug, not bad input
        raise AssertionError("\n".join(report.lines()))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for target, cert in zip(targets, chain):
            target.write_bytes(cert.to_bytes())
    except OSError as error:
        raise CommandError(f"cannot write to {directory}: {error.strerror or error}") from None
    names = {cert.usage: str(target) for cert, target in zip(chain, targets)}
    for line in report.lines(names):
        out.write(line + "\n")
    out.write(f"wrote {len(targets)} files to {directory}: {what}; {SIMULATED_MARK}\n")
    return 0


def run(args):
    if args.action == "verify":
        return verify_files(args.files)
    return export_chain(args.directory, store_path=args.store, ark_bits=args.ark_bits,
                        force=args.force)
