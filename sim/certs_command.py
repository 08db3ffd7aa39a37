"""``sevlab certs``: verify a SEV certificate chain, or export a simulated one.

``sevlab certs verify FILE...`` takes AMD CA certificates (ARK, ASK) and SEV certificates (CEK,
OCA, PEK, PDH) in any order, tells each apart by its own fields, checks the chain
ARK -> ASK -> CEK -> PEK <- OCA, PEK -> PDH and prints one line per certificate and per signature.
Exit status 0: every signature verified and no role is missing; 1: a signature, a link or a role
failed; 2: a file could not be read or parsed. ``sevlab certs export DIR`` writes a freshly
generated platform chain under a simulated AMD root (marked as such in every output); the
firmware model's persistent platform keys will be wired in later. See ``firmware/README.md``.
"""

import pathlib
import sys

from ..firmware.certs import (CertificateError, ChainError, PlatformChain, SimulatedAMDRoot,
                              build_platform_chain, certificate_line, load_certificate,
                              verify_chain)
from .cli import CommandError

__all__ = ["NAME", "HELP", "add_arguments", "run", "verify_files", "export_chain"]

NAME = "certs"
HELP = ("verify a SEV certificate chain (ARK, ASK, CEK, OCA, PEK, PDH files in any order), or "
        "export a freshly generated one under a simulated AMD root")


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
        "export", help="write a freshly generated platform chain under a simulated AMD root "
                       "(the firmware model's persistent platform will be wired in later)",
        description="Write ark.cert, ask.cert, cek.cert, oca.cert, pek.cert and pdh.cert for a "
                    "platform made up on the spot: new P-384 platform keys under a new simulated "
                    "AMD root whose key IDs read 'SEVLAB SIMULATED'. The private keys are not "
                    "kept. The firmware model's persistent platform keys will be wired in later.")
    export.add_argument("directory", metavar="DIR", help="created if missing")
    export.add_argument("--ark-bits", type=int, choices=(2048, 4096), default=4096,
                        help="RSA size of the simulated ARK and ASK: 4096 signs with SHA-384 "
                             "(Rome onwards), 2048 with SHA-256 (Naples); default %(default)s")
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


def export_chain(directory, *, ark_bits, force=False, out=None):
    """Generate a simulated platform chain and write its six files; returns 0.

    Raises
    ------
    CommandError
        DIR is not a directory, a file exists (without ``force``), or a write fails.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    out = out or sys.stdout
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"{directory} is not a directory")
    targets = [directory / name for name in PlatformChain.FILE_NAMES]
    existing = [str(target) for target in targets if target.exists()]
    if existing and not force:
        raise CommandError(f"{existing[0]} exists; not overwriting it without --force")
    root = SimulatedAMDRoot.generate(bits=ark_bits)
    keys = {name: ec.generate_private_key(ec.SECP384R1())
            for name in ("cek_key", "oca_key", "pek_key", "pdh_key")}
    chain = build_platform_chain(root, **keys)
    report = chain.verify()
    if not report.ok:           # the model signing its own chain wrongly is a bug, not bad input
        raise AssertionError("\n".join(report.lines()))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for target, data in zip(targets, chain.files().values()):
            target.write_bytes(data)
    except OSError as error:
        raise CommandError(f"cannot write to {directory}: {error.strerror or error}") from None
    names = {cert.usage: str(target) for cert, target in zip(chain.certificates(), targets)}
    for line in report.lines(names):
        out.write(line + "\n")
    out.write(f"wrote {len(targets)} files to {directory}; {root.describe()}; the private keys "
              f"were not kept (the firmware model's persistent platform will be wired in later)\n")
    return 0


def run(args):
    if args.action == "verify":
        return verify_files(args.files)
    return export_chain(args.directory, ark_bits=args.ark_bits, force=args.force)
