"""``sevlab xts``: one XTS data unit through the golden model or the RTL on any simulator.

See ``rtl/xts/README.md``.
"""

import sys

from .cli import CommandError

__all__ = ["NAME", "HELP", "add_arguments", "run", "BACKENDS"]

NAME = "xts"
HELP = "encrypt or decrypt one XTS-AES data unit and print the result as hex"
BACKENDS = ("model", "amaranth", "icarus", "verilator")


def add_arguments(parser):
    parser.add_argument("operation", choices=("encrypt", "decrypt"))
    parser.add_argument("--key", required=True, metavar="HEX",
                        help="key1‖key2: 32 bytes for XTS-AES-128, 64 for XTS-AES-256")
    parser.add_argument("--tweak", required=True, metavar="HEX",
                        help="the 16-byte tweak value (NIST's i, cryptography's XTS tweak)")
    parser.add_argument("--data", required=True, metavar="HEX",
                        help="one data unit: a whole number of 16-byte blocks")
    parser.add_argument("--backend", choices=BACKENDS, default="amaranth")
    parser.add_argument("--engine", choices=("pipelined", "compact"), default="pipelined")


def _hex(name, text):
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CommandError(f"--{name} is not hexadecimal: {text[:40]!r}") from None


def parse_job(args):
    """The :class:`~sevlab.sim.engines.XTSJob` the arguments describe.

    Raises
    ------
    CommandError
        Bad hex, a wrong key or tweak length, or data that is not a whole number of blocks.
    """
    from .engines import XTSJob
    key, tweak, data = _hex("key", args.key), _hex("tweak", args.tweak), _hex("data", args.data)
    if len(key) not in (32, 64):
        raise CommandError(f"--key must be 32 bytes (XTS-AES-128) or 64 bytes (XTS-AES-256), "
                           f"not {len(key)}")
    if len(tweak) != 16:
        raise CommandError(f"--tweak must be 16 bytes, not {len(tweak)}")
    if not data or len(data) % 16:
        raise CommandError(f"--data must be a whole, non-zero number of 16-byte blocks, "
                           f"not {len(data)} bytes")
    if len(data) > 16 << 20:
        raise CommandError(f"--data is {len(data)} bytes; IEEE 1619 allows at most 2^20 blocks")
    return XTSJob(key, tweak, data, args.operation == "decrypt")


def transform(job, *, backend, engine):
    """Run one job on a backend; returns the result bytes."""
    from . import engines
    key_bits = len(job.key) * 4
    if backend == "model":
        return engines.run_xts_model([job]).results[0]
    if backend == "amaranth":
        return engines.run_xts_amaranth([job], key_bits=key_bits, engine=engine).results[0]
    try:
        from .cosim.runner import SimulatorNotFound
        from .cosim.xts import run_xts_cocotb
    except ImportError as error:
        raise CommandError(f"the {backend} backend needs cocotb ({error.name} is missing): "
                           f"pip install -e '.[test]'") from None
    try:
        return run_xts_cocotb([job], key_bits=key_bits, engine=engine,
                              simulator=backend, quiet=True).results[0]
    except SimulatorNotFound as error:
        raise CommandError(str(error).splitlines()[0]) from None


def run(args):
    job = parse_job(args)
    result = transform(job, backend=args.backend, engine=args.engine)
    sys.stdout.write(result.hex() + "\n")
    return 0
