"""``sevlab demo``: the memory encryption unit at work, on the RTL, checked against the model.

The default scenario runs on the RTL (the ASID-tagged cache in front of the unit) in Amaranth's
simulator through the machine API: the secure port installs keys, guests write and read lines
with and without the C-bit, each line is flushed from the cache, and the DRAM backdoor shows what
a physical attacker or the hypervisor sees. Every step is run on the golden
model too and compared. The SEV flow on top of this (firmware, hypervisor, guests) is not built
yet. See ``README.md``.
"""

import hashlib
import sys
import time

from .cli import CommandError

__all__ = ["NAME", "HELP", "add_arguments", "run", "scenario"]

NAME = "demo"
HELP = ("run the default scenario on the memory encryption unit's RTL (Amaranth's simulator) "
        "and check it against the golden model")

LINE = b"sevlab: a 64-byte line of guest memory, encrypted where it lives"
assert len(LINE) == 64
BACKENDS = ("amaranth", "model", "icarus", "verilator")


def _key(label):
    # Fixed, documented demo keys: SHA-256 of a label, so nobody mistakes them for secrets.
    digest = hashlib.sha256(label.encode()).digest()
    return digest[:16], digest[16:]


def add_arguments(parser):
    parser.add_argument("--engine", choices=("pipelined", "compact"), default="pipelined")
    parser.add_argument("--backend", default="amaranth",
                        help=f"one of {', '.join(BACKENDS)} (default %(default)s: the RTL in "
                             "Amaranth's simulator)")


async def scenario(machine):
    """The demo's steps: ``[(label, what the requester got, what DRAM holds), ...]``."""
    from .machine import BusError, KeySlotDriver, UnitDriver
    keys, unit = KeySlotDriver(machine), UnitDriver(machine)
    await keys.install(0, *_key("sevlab demo: host SME key"))
    await keys.install(1, *_key("sevlab demo: ASID 1 key"))
    await keys.install(2, *_key("sevlab demo: ASID 2 key"))
    await unit.configure(sme_enable=True)
    cbit = 1 << (await unit.cpuid())["ebx"]["cbit_position"]
    steps = []

    async def step(label, action, address, asid=0):
        try:
            got = await action
        except BusError:
            got = "refused (SLVERR)"
        # The cache holds lines in plaintext: flush this one so DRAM shows what the unit made of it.
        await machine.clflush(address, asid=asid)
        steps.append((label, got, await machine.dram_read(address & ~cbit, 64)))

    await step("ASID 1 writes the line at PA 0x1000, C=1", machine.write_line(0x1000 | cbit, LINE, asid=1), 0x1000 | cbit, 1)
    await step("ASID 1 writes the same line at PA 0x2000, C=1", machine.write_line(0x2000 | cbit, LINE, asid=1), 0x2000 | cbit, 1)
    await step("ASID 1 reads PA 0x1000, C=1", machine.read_line(0x1000 | cbit, asid=1), 0x1000 | cbit, 1)
    await step("the hypervisor reads PA 0x1000, C=0", machine.read_line(0x1000, asid=0), 0x1000)
    await step("ASID 2 reads PA 0x1000, C=1 (its own key)", machine.read_line(0x1000 | cbit, asid=2), 0x1000 | cbit, 2)
    await machine.dram_write(0x3000, await machine.dram_read(0x1000, 64))
    await step("ciphertext copied to PA 0x3000, ASID 1 reads it", machine.read_line(0x3000 | cbit, asid=1), 0x3000 | cbit, 1)
    await step("ASID 3 (no key installed) reads PA 0x1000, C=1", machine.read_line(0x1000 | cbit, asid=3), 0x1000 | cbit, 3)
    await step("the host writes the line at PA 0x4000, C=0", machine.write_line(0x4000, LINE), 0x4000)
    await unit.configure(sme_enable=True, tsme=True)
    await step("TSME on: the host writes the line at PA 0x5000, C=0", machine.write_line(0x5000, LINE), 0x5000)
    await step("TSME on: the host reads PA 0x5000, C=0", machine.read_line(0x5000), 0x5000)
    steps.append(("counters", await unit.counters(), b""))
    return steps


def _show(value):
    if value is None:
        return "written"
    if isinstance(value, str):
        return value
    if value == LINE:
        return "the line (plaintext)"
    return value[:8].hex() + "… (not the line)"


def run(args):
    from .machine import MachineConfig, run as run_machine
    if args.backend not in BACKENDS:
        raise CommandError(f"--backend must be one of {', '.join(BACKENDS)}, not {args.backend!r}")
    config = MachineConfig(engine=args.engine)
    expected, _ = run_machine(scenario, backend="model", config=config)
    start = time.perf_counter()
    if args.backend == "model":
        got, cycles = expected, None
    else:
        options = {"quiet": True} if args.backend in ("icarus", "verilator") else {}
        got, machine = run_machine(scenario, backend=args.backend, config=config, **options)
        cycles = machine.cycles if args.backend == "amaranth" else None
    seconds = time.perf_counter() - start

    out = sys.stdout
    where = "the golden model" if args.backend == "model" else f"the RTL on {args.backend}"
    out.write(f"sevlab demo: the memory system ({config.cache_bytes // 1024} KiB {config.cache_ways}-way "
              f"ASID-tagged cache, {args.engine} XTS-AES-128 unit, tweak = DRAM line address, "
              f"C-bit 47) on {where}\n")
    out.write(f"line: {LINE!r}\n\n")
    out.write(f"  {'step':<52} {'requester gets':<38} DRAM holds\n")
    mismatches = 0
    for (label, result, dram), (_, want, want_dram) in zip(got[:-1], expected[:-1]):
        match = result == want and dram == want_dram
        mismatches += not match
        stored = "the line (plaintext)" if dram == LINE else dram[:8].hex() + "…"
        out.write(f"  {label:<52} {_show(result):<38} {stored}{'' if match else '  ≠ model!'}\n")
    counters, want_counters = got[-1][1], expected[-1][1]
    mismatches += counters != want_counters
    out.write(f"\n  counters: {', '.join(f'{k.lower()} {v}' for k, v in counters.items())}"
              f"{'' if counters == want_counters else '  ≠ model!'}\n")
    timing = f"{cycles} cycles, " if cycles else ""
    verdict = ("every step equals the golden model" if not mismatches
               else f"{mismatches} steps differ from the golden model")
    out.write(f"\n{len(got) - 1} steps, {timing}{seconds:.1f} s; {verdict}\n")
    return 0 if not mismatches else 1
