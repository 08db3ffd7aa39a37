"""``sevlab demo``: what the memory encryption unit's cipher does with physical addresses.

The default scenario runs on the RTL in Amaranth's simulator and checks every line against the
golden model. It shows the properties the rest of sevlab builds on: the same plaintext at two
physical addresses gives two ciphertexts, ciphertext moved to another address decrypts to
garbage, and another key (another ASID's) gives another ciphertext. The SEV flow on top of
this (firmware, hypervisor, guests) is not built yet. See ``README.md``.
"""

import hashlib
import sys
import time

__all__ = ["NAME", "HELP", "add_arguments", "run", "scenario"]

NAME = "demo"
HELP = "run the default scenario on the RTL (Amaranth's simulator) and check it against the model"

LINE = b"sevlab: a 64-byte line of guest memory, encrypted where it lives"
assert len(LINE) == 64


def _key(label):
    # Fixed, documented demo keys: SHA-256 of a label, so nobody mistakes them for secrets.
    return hashlib.sha256(label.encode()).digest()


def _tweak(physical_address):
    # The tweak is the line's physical address (C-bit removed), as a 16-byte little-endian value.
    return physical_address.to_bytes(16, "little")


def add_arguments(parser):
    parser.add_argument("--engine", choices=("pipelined", "compact"), default="pipelined")
    parser.add_argument("--backend", choices=("amaranth", "model"), default="amaranth",
                        help="run on the RTL in Amaranth's simulator (default) or on the "
                             "golden model alone")


def scenario():
    """The demo's steps as ``(label, XTSJob)``, in order."""
    from .engines import XTSJob
    guest_a, guest_b = _key("sevlab demo: ASID 1 key"), _key("sevlab demo: ASID 2 key")
    steps = [
        ("ASID 1 writes the line at PA 0x1000", XTSJob(guest_a, _tweak(0x1000), LINE)),
        ("ASID 1 writes the same line at PA 0x2000", XTSJob(guest_a, _tweak(0x2000), LINE)),
        ("ASID 2 writes the same line at PA 0x1000", XTSJob(guest_b, _tweak(0x1000), LINE)),
    ]
    from .model import xts_encrypt
    stored = xts_encrypt(guest_a, _tweak(0x1000), LINE)
    steps += [
        ("ASID 1 reads PA 0x1000", XTSJob(guest_a, _tweak(0x1000), stored, True)),
        ("its ciphertext, moved to PA 0x2000, read there", XTSJob(guest_a, _tweak(0x2000), stored, True)),
        ("its ciphertext read with ASID 2's key", XTSJob(guest_b, _tweak(0x1000), stored, True)),
    ]
    return steps


def run(args):
    from . import engines
    steps = scenario()
    jobs = [job for _, job in steps]
    start = time.perf_counter()
    expected = engines.run_xts_model(jobs).results
    if args.backend == "model":
        results, cycles = expected, None
    else:
        rtl = engines.run_xts_amaranth(jobs, engine=args.engine)
        results, cycles = rtl.results, rtl.cycles
    seconds = time.perf_counter() - start

    out = sys.stdout
    out.write(f"sevlab demo: XTS-AES-128, tweak = physical address, {args.engine} engine on "
              f"{'the RTL in Amaranth' + chr(39) + 's simulator' if cycles else 'the golden model'}\n")
    out.write(f"line: {LINE!r}\n\n")
    mismatches = 0
    for (label, job), result, want in zip(steps, results, expected):
        match = result == want
        mismatches += not match
        shown = result[:16].hex() + "…"
        if job.decrypt:
            shown += "  (plaintext)" if result == LINE else "  (garbage)"
        out.write(f"  {label:<48} {shown}{'' if match else '  ≠ model!'}\n")
    ct = results[:3]
    out.write("\n")
    out.write(f"  same line, two addresses → two ciphertexts: {ct[0] != ct[1]}\n")
    out.write(f"  same line, two keys → two ciphertexts:      {ct[0] != ct[2]}\n")
    out.write(f"  moved ciphertext decrypts to the line:      {results[4] == LINE}\n")
    timing = f"{cycles} cycles, " if cycles else ""
    out.write(f"\n{len(steps)} lines, {timing}{seconds:.1f} s; "
              f"{'every line equals the golden model' if not mismatches else f'{mismatches} lines differ from the golden model'}\n")
    return 0 if not mismatches else 1
