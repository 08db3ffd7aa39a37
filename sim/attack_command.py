"""``sevlab attack NAME``: one attack demonstration (``sim/attacks.py``) on one platform, with
its explanation and the claims it checks; ``sevlab attack --list`` names them all. Exit 0 when
every claim holds, 1 when one does not, 2 on bad input."""

import json
import sys
import textwrap
import time

from .cli import CommandError
from .machine import BACKENDS

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "attack"
HELP = "what a malicious hypervisor can and cannot do to an SEV guest (--list for the demonstrations)"


def add_arguments(parser):
    parser.add_argument("name", nargs="?", metavar="NAME", help="the demonstration (see --list)")
    parser.add_argument("--list", action="store_true", help="list the demonstrations")
    parser.add_argument("--backend", default="amaranth",
                        help=f"one of {', '.join(BACKENDS)} (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seeded keys (reproducible, not secret)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args):
    from .attacks import ATTACKS, run_attack
    out = sys.stdout
    if args.list:
        for attack in ATTACKS.values():
            out.write(f"{attack.name:<16} {attack.title}\n")
        return 0
    if args.name not in ATTACKS:
        raise CommandError(f"NAME must be one of {', '.join(ATTACKS)} (or --list), not {args.name!r}")
    if args.backend not in BACKENDS:
        raise CommandError(f"--backend must be one of {', '.join(BACKENDS)}, not {args.backend!r}")
    from ..firmware.certs import SimulatedAMDRoot
    from ..firmware.entropy import Entropy
    from ..firmware.platform import manufacture
    from ..firmware.store import PlatformStore
    from .machine import make_machine
    attack = ATTACKS[args.name]
    store = PlatformStore()
    manufacture(store, SimulatedAMDRoot.generate(bits=2048),
                Entropy(None if args.seed is None else f"{args.seed}/chip"))
    options = {"quiet": True} if args.backend in ("icarus", "verilator") else {}
    machine = make_machine(args.backend, **options)
    start = time.perf_counter()
    outcome = run_attack(args.name, machine, store, args.seed)
    seconds = time.perf_counter() - start
    if args.json:
        json.dump({"name": attack.name, "title": attack.title, "backend": args.backend, "ok": outcome.ok,
                   "lines": outcome.lines, "claims": [{"claim": c, "held": h} for c, h in outcome.claims],
                   "seconds": round(seconds, 3)}, out, indent=1)
        out.write("\n")
    else:
        out.write(f"{attack.name}: {attack.title} ({args.backend}, {seconds:.1f} s)\n\n")
        out.write(textwrap.fill(attack.explanation, width=100) + "\n\n")
        for line in outcome.lines:
            out.write(f"  {line}\n")
        out.write("\n")
        for claim, held in outcome.claims:
            out.write(f"  {'ok  ' if held else 'FAIL'}  {claim}\n")
    return 0 if outcome.ok else 1
