"""The SEV story that ``sevlab demo`` tells: two platforms, a guest owner, and one guest
launched, attested, given a secret, run with private and shared pages and block I/O, migrated
from platform A to platform B, and torn down with its ASID reclaimed.

Each platform is a machine (any backend) with its own firmware, store and root of trust's
chip, driven by the hypervisor model. Platforms do not share a simulation: B runs once to export
its PDH and chain for the migration, and once to receive the guest; the hosts pass certificates
and packets between them as they would over a network. On the ``amaranth`` backend B is a
second process on the machine's other core — its export alongside A's first steps, its receive
alongside A's migration, opening each packet while A seals the next; on the others its runs
come before and after A's.

With ``seed`` set, the firmware and the owner draw from a seeded :class:`Entropy`, so the same
story on two backends gives the same keys, the same guest results and byte-identical DRAM.
"""

import hashlib
import multiprocessing
import time
import uuid
from dataclasses import dataclass, field

from ..firmware import certs
from ..firmware.entropy import Entropy
from ..firmware.platform import SEVFirmware, manufacture
from ..firmware.policy import PolicyFlags
from ..firmware.secret import parse_secret_table
from ..firmware.store import PlatformStore
from ..hypervisor.blockdev import BlockDevice
from ..hypervisor.guest_os import BlockDriver, GuestOS
from ..hypervisor.hostmem import LINE, PAGE
from ..hypervisor.kvm import KVM
from ..hypervisor.owner import GuestOwner
from ..hypervisor.vcpu import VCPU
from ..hypervisor.vmm import launch_guest, verify_platform
from .attacks import ATTACKS, Victim, asid_reuse, debug_refused
from .machine import CacheDriver, MachineConfig, UnitDriver, make_machine

__all__ = ["StoryConfig", "Step", "StoryResult", "make_platforms", "run_story", "SECRET_GUID",
           "PASSPHRASE", "POLICY", "MIN_GUEST_SIZE"]

#: The secret the guest owner injects, under its own GUID in OVMF's secret table.
SECRET_GUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://sevlab.example/demo/disk-passphrase")
PASSPHRASE = b"correct horse battery staple"
#: The guest policy: no debugging, no key sharing, migration only under the same AMD root.
POLICY = int(PolicyFlags.NODBG | PolicyFlags.NOKS | PolicyFlags.SEV)
#: Two private lines of page 0 that hold nothing the guest needs: the attacks' playground.
ATTACK_LINES = (3 * 1024, 3 * 1024 + 4 * 64)
#: The attacks run on the guest of the demo (``refusals`` partly at teardown: it needs a
#: deactivated ASID).
DEMO_ATTACKS = ("read-private", "move-ciphertext", "replay", "wrong-asid")
#: The guest's RAM: page 0 holds the image, the secret, the note and a sector buffer (private);
#: the last page is the shared bounce page; pages between are private and zero. Every private
#: page is encrypted twice more by the migration (sealed on A, opened on B): the default keeps
#: one, so that the demo fits its minute on the RTL.
MIN_GUEST_SIZE = 2 * PAGE
#: The demo's hardware: the compact engine (Amaranth simulates it two to three times faster per
#: cycle than the pipelined one, and the story moves little data) and a DRAM latency of 8 cycles
#: (80 ns at 100 MHz); the rest is MachineConfig's defaults.
DEMO_MACHINE = MachineConfig(engine="compact", memory_latency=8)
#: The initial image LAUNCH_UPDATE_DATA encrypts and measures (the OVMF role), at GPA 0.
IMAGE_SIZE = 1024
NOTE = b"private note: only this guest's own key can decrypt this line.".ljust(LINE, b".")
assert len(NOTE) == LINE
SECTOR = 512
SECRET_GPA = IMAGE_SIZE             # OVMF's secret table, then the note and a sector buffer
NOTE_GPA = PAGE // 2
SECTOR_GPA = NOTE_GPA + SECTOR


@dataclass
class StoryConfig:
    backend: str = "amaranth"
    guest_size: int = MIN_GUEST_SIZE
    machine: MachineConfig = field(default_factory=lambda: DEMO_MACHINE)
    seed: int | None = None
    host_sme: bool = False          # the hosts encrypt their own memory with the SME key
    vcd: str | None = None          # platform A's run only
    options: dict = field(default_factory=dict)

    def check(self):
        if self.guest_size < MIN_GUEST_SIZE or self.guest_size % PAGE or self.guest_size > 256 * PAGE:
            raise ValueError(f"the guest size must be a multiple of {PAGE} from {MIN_GUEST_SIZE} to "
                             f"{256 * PAGE} bytes, not {self.guest_size}")


@dataclass
class Step:
    """One step of the story as the demo shows it."""
    name: str
    title: str
    lines: list = field(default_factory=list)
    platform: str = "A"
    seconds: float = 0.0
    cycles: int = 0


@dataclass
class StoryResult:
    steps: list
    guest: dict                     # what the guest read, on A and on B
    dram: dict                      # {"A": {page: bytes}, "B": ...}: every page the hosts used
    counters: dict                  # unit and cache counters summed over the runs
    cycles: int
    seconds: float
    dumps: dict                     # the side-by-side lines: {label: (guest, host, dram)}


def make_platforms(seed=None, *, ark_bits=2048):
    """Two manufactured chips under one simulated AMD root (the model's stand-in for AMD's):
    ``(root, store_a, store_b)``. With ``seed`` the chips are reproducible; the root's RSA keys
    never are (the caller shares one root between runs it compares)."""
    root = certs.SimulatedAMDRoot.generate(bits=ark_bits)
    stores = []
    for name in ("A", "B"):
        store = PlatformStore()
        manufacture(store, root, Entropy(None if seed is None else f"{seed}/chip {name}"))
        stores.append(store)
    return (root, *stores)


def _copy(store):
    copy = PlatformStore()
    copy.restore(store.snapshot())
    return copy


def _image(size):
    """The guest's initial image (the OVMF role): readable lines, so that the dumps show
    text in the guest and noise in DRAM."""
    lines = [f"sevlab guest image: page {n // (PAGE // LINE)}, line {n % (PAGE // LINE):02}"
             .encode().ljust(LINE, b" ") for n in range(size // LINE)]
    return b"".join(lines)


class _Recorder:
    """Times steps on one machine and calls the progress callback."""

    def __init__(self, steps, machine, platform, progress):
        self.steps, self.machine, self.platform, self.progress = steps, machine, platform, progress

    def step(self, name, title):
        return _StepTimer(self, Step(name, title, platform=self.platform))


class _StepTimer:
    def __init__(self, recorder, step):
        self.recorder, self.step = recorder, step

    def __enter__(self):
        self.start, self.cycles = time.perf_counter(), self.recorder.machine.cycles
        if self.recorder.progress:
            self.recorder.progress("start", self.step)
        return self.step

    def __exit__(self, kind, error, trace):
        self.step.seconds = time.perf_counter() - self.start
        self.step.cycles = self.recorder.machine.cycles - self.cycles
        if kind is None:
            self.recorder.steps.append(self.step)
        if self.recorder.progress:
            self.recorder.progress("end" if kind is None else "failed", self.step)
        return False


async def _boot(machine, store, entropy, host_sme):
    firmware = SEVFirmware(machine, store, entropy)
    await firmware.power_on()
    await UnitDriver(machine).clear_counters()
    await CacheDriver(machine).clear_counters()
    return firmware, await KVM.start(machine, firmware, host_sme=host_sme)


async def _counters(machine):
    return {**await UnitDriver(machine).counters(), **await CacheDriver(machine).counters()}


async def _dram_image(kvm):
    """Every page the host ever used: its command buffer and the page pool up to the highest
    page handed out, as DRAM holds them."""
    machine, pool = kvm.machine, kvm.memory.pages
    pages = [kvm.memory.map.command_buffer, *range(pool.start, pool.high_water, PAGE)]
    return {page: await machine.dram_read(page, PAGE) for page in pages}


def _entropy(config, name):
    return Entropy(None if config.seed is None else f"{config.seed}/{name}")


def _machine(config, name):
    if config.backend == "serial" and name != "A":
        # One board: platform A. Platform B (its own machine, across the network from A) runs
        # on the golden model of the same memory system.
        return make_machine("model", config.machine)
    options = dict(config.options)
    if config.vcd and name == "A":
        options["vcd"] = config.vcd
    return make_machine(config.backend, config.machine, **options)


def _export_target(config, store_snapshot, b_entropy):
    """Run 1, platform B: its host exports what a source needs to send it a guest. Returns
    ``((pdh, chain, amd), step, counters, cycles, store snapshot, entropy)``: B's store and
    entropy stream go on in run 3. A plain function of picklable values, so that it can run in
    another process."""
    store = PlatformStore()
    store.restore(store_snapshot)
    steps = []

    async def export(m):
        record = _Recorder(steps, m, "B", None)
        with record.step("target", "platform B publishes its PDH and certificate chain") as step:
            _, kvm = await _boot(m, store, b_entropy, config.host_sme)
            pdh, chain = await kvm.pdh_cert_export()
            ark, ask = kvm.amd_certificates()
            step.lines.append(f"PDH_CERT_EXPORT: PDH {hashlib.sha256(pdh).hexdigest()[:16]}…, "
                              f"chain PEK ‖ OCA ‖ CEK {len(chain)} bytes")
        return (pdh, chain, ask + ark), await _counters(m)

    (target, counters), cycles = _run(_machine(config, "B1"), export)
    return target, steps[0], counters, cycles, store.snapshot(), b_entropy


def _receive_guest(config, store, b_entropy, messages):
    """Run 3, platform B: receive the guest from ``messages`` — A's migration messages, in the
    order A sends them, which may still be arriving — run it and tear it down. Returns
    ``(steps, guest results, the note's line, DRAM image, counters, cycles)``."""
    steps = []
    image = _image(IMAGE_SIZE)
    # B's host starts when A's does (the session arrives), not before: the step's time is then
    # the migration's as B lives it.
    _, source_pdh, session, size, guest_a, note_in_a = next(messages)             # "start"

    async def receive(m):
        record = _Recorder(steps, m, "B", None)
        with record.step("migrate-in", "platform B receives the guest: RECEIVE_START … RECEIVE_FINISH") as step:
            _, kvm = await _boot(m, store, b_entropy, config.host_sme)
            vm = kvm.create_vm()
            kvm.add_ram(vm, 0, size)
            await kvm.sev_init(vm)
            await kvm.receive_start(vm, POLICY, source_pdh, session)
            count = 0
            for message in messages:
                if message[0] == "finish":
                    _, shared, page_table = message
                    break
                _, gpa, header, trans = message                                    # "packet"
                await kvm.receive_update_data(vm, gpa, header, trans)
                count += 1
            for gpa, data in shared.items():
                await kvm.write_guest_ram(vm, gpa, data)
            await kvm.receive_finish(vm)
            vcpu = VCPU(kvm, vm)
            vcpu.page_table.entries = dict(page_table)          # the vCPU state QEMU moves
            os_ = GuestOS(vcpu)
            os_.me_mask = kvm.cbit
            table = dict(parse_secret_table(await os_.read(SECRET_GPA, 128)))
            guest_b = {"image_intact": await os_.read(0, len(image)) == image,
                       "secret": table[SECRET_GUID].decode() if SECRET_GUID in table else None,
                       "note": (await os_.read(NOTE_GPA, LINE)).decode(),
                       "sector0": (await os_.read(SECTOR_GPA, SECTOR)).rstrip().decode()}
            await m.wbinvd()
            spa_b, _ = vm.npt.translate(NOTE_GPA)
            note = (await vcpu.read(NOTE_GPA, LINE), await kvm.read_guest_ram(vm, NOTE_GPA, LINE),
                    await m.dram_read(spa_b, LINE))
            step.lines += [f"RECEIVE_START: a new guest with its own key, ASID {vm.asid}; {count} packets "
                           f"opened into place; RECEIVE_FINISH: RUNNING",
                           f"the guest on B reads the same image, secret, note and sector as on A: "
                           f"{guest_b == guest_a}",
                           f"the note's line in DRAM differs between A and B (another key): {note[2] != note_in_a}"]
        with record.step("teardown-b", "teardown on B") as step:
            await kvm.destroy(vm)
            await kvm.flush_asids()
            step.lines.append(f"ASID {vm.asid} reclaimed after WBINVD and DF_FLUSH")
        return guest_b, note, await _dram_image(kvm), await _counters(m)

    (guest_b, note, dram_b, counters), cycles = _run(_machine(config, "B2"), receive)
    return steps, guest_b, note, dram_b, counters, cycles


def _platform_b_process(config, store_snapshot, b_entropy, to_a, from_a):
    """Platform B in a process of its own: run 1, its result to A; then run 3, fed with A's
    messages as A sends them (the two machines simulate side by side), its result to A. An
    exception goes to A instead."""
    try:
        target, step, counters, cycles, store_snapshot, b_entropy = _export_target(config, store_snapshot, b_entropy)
        to_a.put((target, step, counters, cycles))
        store = PlatformStore()
        store.restore(store_snapshot)
        to_a.put(_receive_guest(config, store, b_entropy, iter(from_a.get, None)))
    except BaseException as error:         # noqa: BLE001 — handed to the parent, which raises it
        to_a.put(error)


class _PlatformB:
    """Platform B as the story drives it: :meth:`target` (run 1's result), :meth:`send` (A's
    migration messages), :meth:`received` (run 3's result).

    On the RTL backend that is simulated in Python, B is a second process (the platforms are
    separate machines): run 1 alongside A's first steps, run 3 alongside A's migration. The
    process starts the platform's default way: forked on Linux; spawned elsewhere, which imports
    the caller's main module again (a script calling :func:`run_story` needs the usual
    ``if __name__ == "__main__":`` guard there). On the other backends both runs happen here,
    run 1 before A and run 3 after it."""

    def __init__(self, config, store, b_entropy):
        self.config, self.parallel = config, config.backend == "amaranth"
        if self.parallel:
            context = multiprocessing.get_context()
            self._to_a, self._from_a = context.Queue(), context.Queue()
            self._process = context.Process(target=_platform_b_process, daemon=True,
                                             args=(config, store.snapshot(), b_entropy, self._to_a, self._from_a))
            self._process.start()
        else:
            self._export = _export_target(config, store.snapshot(), b_entropy)
            self._messages = []

    def _from_b(self):
        result = self._to_a.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def target(self):
        """``((pdh, chain, amd certificates), step, counters, cycles)`` of run 1."""
        if self.parallel:
            return self._from_b()
        return self._export[:4]

    def send(self, message):
        (self._from_a.put if self.parallel else self._messages.append)(message)

    def received(self):
        """Run 3's result (after A's last message)."""
        if self.parallel:
            self._from_a.put(None)
            return self._from_b()
        _, _, _, _, store_snapshot, b_entropy = self._export
        store = PlatformStore()
        store.restore(store_snapshot)
        return _receive_guest(self.config, store, b_entropy, iter(self._messages))

    def close(self):
        if self.parallel and self._process.is_alive():
            self._process.terminate()
            self._process.join()


def run_story(config, platforms, progress=None):
    """Tell the story on ``config.backend``; ``platforms`` from :func:`make_platforms`.
    ``progress(event, step)`` is called with ``"start"`` and then ``"end"`` (or ``"failed"``)
    around each step."""
    config.check()
    root, store_a, store_b = platforms
    store_a = _copy(store_a)                # a story never changes its inputs (B copies its own)
    steps, guest, dram, counters, dumps = [], {}, {}, {}, {}
    started = time.perf_counter()
    size = config.guest_size
    image = _image(IMAGE_SIZE)
    secret_gpa, note_gpa, sector_gpa = SECRET_GPA, NOTE_GPA, SECTOR_GPA
    bounce_gpa = size - PAGE

    def entropy(name):
        return _entropy(config, name)

    def add(into, values):
        for key, value in values.items():
            into[key] = into.get(key, 0) + value

    def show(step):
        """A step platform B ran elsewhere, shown where the story reaches it."""
        if progress:
            progress("start", step)
            progress("end", step)
        steps.append(step)

    # Platform B: run 1 exports what A will need to send it the guest; run 3 receives it.
    b = _PlatformB(config, store_b, entropy("platform B"))
    b_cycles = 0

    def target_published():
        nonlocal b_cycles
        target, step, b_counters, b_cycles = b.target()
        step.lines.append("(run alongside platform A's steps above: B is another machine)"
                          if b.parallel else "(run before platform A's steps)")
        show(step)
        add(counters, b_counters)
        return target

    # Run 2, platform A: launch, run, migrate out, tear down. ------------------------------------
    owner_entropy = entropy("guest owner")

    async def platform_a(m):
        nonlocal dumps
        record = _Recorder(steps, m, "A", progress)
        with record.step("platform", "platform A powers on; the host initialises SEV") as step:
            firmware, kvm = await _boot(m, store_a, entropy("platform A"), config.host_sme)
            await kvm.platform_init()
            status = await kvm.platform_status()
            step.lines += [f"power on: a random SME key in key slot 0; C-bit is address bit "
                           f"{kvm.cbit.bit_length() - 1}; SEV ASIDs {kvm.asids.min_sev_asid}.."
                           f"{kvm.asids.max_sev_asid}",
                           f"PLATFORM_STATUS: API {status['api_major']}.{status['api_minor']} build "
                           f"{status['build']}, state {status['state']} (INIT)"]

        with record.step("certificates", "the guest owner checks the platform's certificate chain") as step:
            owner = GuestOwner(POLICY, root.ark, owner_entropy)
            report = await verify_platform(kvm, owner)
            step.lines += [line for line in report.lines() if line.startswith(("ok", "chain"))]
            for generation in ("naples", "rome"):
                real = certs.verify_chain(_real_chain(generation))
                step.lines.append(f"the same code on AMD's real {generation.title()} chain: "
                                  f"{'verified' if real.ok else 'FAILED'} ({len(real.checks)} signatures)")

        with record.step("launch", "launch: LAUNCH_START … LAUNCH_FINISH with attestation and a secret") as step:
            vm, launched = await launch_guest(kvm, owner, image=image, ram_size=size, secret_gpa=secret_gpa,
                                              secrets=[(SECRET_GUID, PASSPHRASE)],
                                              mnonce=owner_entropy.token_bytes(16))
            measure = launched["measurement"]
            step.lines += [
                f"KVM_SEV_INIT: ASID {vm.asid}; LAUNCH_START: handle {launched['handle']}, policy {POLICY:#x} "
                f"(NODBG, NOKS, SEV); ACTIVATE: the guest's key in key slot {vm.asid}",
                f"LAUNCH_UPDATE_DATA: {len(image)} bytes encrypted in place; launch digest "
                f"{launched['digest'].hex()[:16]}…",
                f"LAUNCH_MEASURE: {measure[:32].hex()[:32]}… — the owner recomputed it and agrees",
                f"LAUNCH_SECRET: {launched['secret_bytes']} bytes sealed for the guest; LAUNCH_FINISH: RUNNING",
                "ATTESTATION: report for the owner's nonce, signed by the PEK: verified"]
            guest["measurement"] = measure.hex()
            guest["attestation"] = launched["attestation"].to_bytes().hex()

        with record.step("guest", "the guest runs: private pages, a shared page, block I/O") as step:
            vcpu = VCPU(kvm, vm)
            os_ = GuestOS(vcpu)
            await os_.boot(vm.ram)
            table = parse_secret_table(await os_.read(secret_gpa, 128))
            found = dict(table).get(SECRET_GUID)
            image_ok = await os_.read(0, len(image)) == image
            await os_.write(note_gpa, NOTE)
            await os_.set_memory_decrypted(bounce_gpa)
            disk = BlockDevice(kvm, vm, image=b"sector 0: the host's disk, read by the guest".ljust(SECTOR, b" "))
            driver = BlockDriver(os_, disk, bounce_gpa)
            await driver.read(0, sector_gpa)
            await driver.write(1, note_gpa - note_gpa % SECTOR)
            sector = await os_.read(sector_gpa, SECTOR)
            guest["A"] = {"image_intact": image_ok, "secret": found.decode() if found else None,
                          "note": (await os_.read(note_gpa, LINE)).decode(), "sector0": sector.rstrip().decode()}
            step.lines += [
                f"CPUID Fn8000_001F: C-bit {os_.me_mask.bit_length() - 1}; every page mapped private (C=1)",
                f"the image reads back intact: {image_ok}",
                f"the secret, found in private memory under its GUID: {found.decode() if found else None!r}",
                f"page {bounce_gpa:#x} made shared (flush, clear C-bit); the block device DMAs "
                f"through it, the guest copies to and from private pages"]

        with record.step("dram", "what the guest sees, what the host reads, what DRAM holds") as step:
            await m.wbinvd()                # so that DRAM is current (the host may do this)
            dumps = {}
            for label, gpa in (("private line (the note)", note_gpa), ("shared line (bounce page)", bounce_gpa)):
                spa, host_c = vm.npt.translate(gpa)
                dumps[label] = (await vcpu.read(gpa, LINE), await kvm.read_guest_ram(vm, gpa, LINE),
                                await m.dram_read(spa, LINE))
            step.lines.append("(see the dumps below)")

        with record.step("attacks", "a malicious host: what it can and cannot do to the guest") as step:
            victim = Victim(kvm, vm, os_, *ATTACK_LINES)
            attacks = {name: await ATTACKS[name].scenario(victim) for name in DEMO_ATTACKS}
            attacks["refusals (debug)"] = await debug_refused(victim)
            for name, outcome in attacks.items():
                step.lines.append(f"{name}: {ATTACKS[name].title if name in ATTACKS else outcome.lines[0]}")
                step.lines += [f"  {'ok  ' if held else 'FAIL'} {claim}" for claim, held in outcome.claims]
            guest["attacks"] = {name: outcome.ok for name, outcome in attacks.items()}

        pdh_b, chain_b, amd_b = target_published()
        with record.step("migrate-out", "migration: SEND_START … SEND_FINISH towards platform B") as step:
            session_b = await kvm.send_start(vm, pdh_b, chain_b, amd_b)
            # What A's host sends B's, as it goes: B opens each packet while A seals the next.
            b.send(("start", owner.pdh.to_bytes(), session_b, size, guest["A"], dumps["private line (the note)"][2]))
            private = [(gpa, PAGE) for gpa in range(0, size, PAGE) if gpa not in vm.shared]
            packets = 0
            for gpa, length in private:
                for packet in await kvm.send_update_data(vm, gpa, length):
                    b.send(("packet", *packet))
                    packets += 1
            shared = {gpa: await kvm.read_guest_ram(vm, gpa, PAGE) for gpa in sorted(vm.shared)}
            await kvm.send_finish(vm)
            b.send(("finish", shared, dict(vcpu.page_table.entries)))
            step.lines += ["SEND_START: the target's chain checked by A's firmware; a session for B's PDH",
                           f"SEND_UPDATE_DATA: {packets} private pages sealed under fresh transport keys; "
                           f"{len(shared)} shared page copied in plaintext; SEND_FINISH: SENT"]

        with record.step("teardown", "teardown on A: DEACTIVATE, DECOMMISSION, ASID reclaim") as step:
            asid = vm.asid
            await kvm.destroy(vm)
            dirty = sorted(firmware.dirty_asids)
            reclaimable = sorted(kvm.asids.reclaimable)
            reuse = await asid_reuse(kvm, asid)         # what a host skipping the rules meets
            guest["attacks"]["refusals (ASID reuse)"] = reuse.ok
            await kvm.flush_asids()
            step.lines += [f"destroy: WBINVD, DEACTIVATE (slot {asid} wiped), DECOMMISSION; ASID {asid} is "
                           f"reclaimable {reclaimable}, dirty in the firmware {dirty}",
                           *[f"a host skipping the rules: {line}" for line in reuse.lines],
                           f"recycle: WBINVD then DF_FLUSH; reclaimable {sorted(kvm.asids.reclaimable)}, "
                           f"dirty {sorted(firmware.dirty_asids)}: ASID {asid} is free again"]
        dram["A"] = await _dram_image(kvm)
        add(counters, await _counters(m))

    try:
        _, used = _run(_machine(config, "A"), platform_a)
        b_steps, guest["B"], note_in_b, dram["B"], b_counters, b_received = b.received()
    finally:
        b.close()
    for step in b_steps:
        show(step)
    add(counters, b_counters)
    dumps["the note's line in B's DRAM"] = note_in_b
    return StoryResult(steps=steps, guest=guest, dram=dram, counters=counters,
                       cycles=used + b_cycles + b_received, seconds=time.perf_counter() - started, dumps=dumps)


def _run(machine, scenario):
    """Run ``scenario`` on ``machine``; returns its result and the cycles it took (read inside
    the run: a co-simulation is gone once it returns)."""
    async def counted(m):
        return await scenario(m), m.cycles
    return machine.run(counted)


def _real_chain(generation):
    from importlib import resources
    folder = resources.files(__package__).joinpath("data", f"amd-{generation}")
    return [certs.load_certificate(folder.joinpath(f"{role}.cert").read_bytes())
            for role in ("ark", "ask", "cek", "oca", "pek", "pdh")]
