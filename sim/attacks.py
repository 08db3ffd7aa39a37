"""The attack demonstrations: what a malicious hypervisor can and cannot do to an SEV guest.

Each is a scenario on one platform (any backend): a guest is launched as in the demo, then the
host misbehaves. Each states its claims and checks them on what the hardware returned; ``sevlab
attack NAME`` prints them, ``tests/sim/test_attacks.py`` requires them.
"""

from dataclasses import dataclass, field

from ..firmware.certs import AMDCertificate
from ..firmware.commands import CommandId as C
from ..firmware.entropy import Entropy
from ..firmware.platform import SEVFirmware
from ..firmware.policy import PolicyFlags
from ..firmware.status import Status
from ..hypervisor.guest_os import GuestOS
from ..hypervisor.hostmem import LINE, PAGE
from ..hypervisor.kvm import KVM, FirmwareError
from ..hypervisor.owner import GuestOwner
from ..hypervisor.vcpu import VCPU
from ..hypervisor.vmm import launch_guest

__all__ = ["ATTACKS", "Attack", "Outcome", "run_attack"]

RAM = 2 * PAGE
TARGET = PAGE // 2                  # the guest's private line the attacks go after
OTHER = TARGET + 4 * LINE           # another line of the same guest
NODBG = int(PolicyFlags.NODBG)


@dataclass
class Outcome:
    lines: list = field(default_factory=list)
    claims: list = field(default_factory=list)     # (claim, held)

    def claim(self, text, held):
        self.claims.append((text, bool(held)))

    @property
    def ok(self):
        return all(held for _, held in self.claims)


@dataclass(frozen=True)
class Attack:
    name: str
    title: str
    explanation: str
    scenario: object


def _line(text):
    return text.encode().ljust(LINE, b".")[:LINE]


async def _platform(machine, store, seed):
    firmware = SEVFirmware(machine, store, Entropy(None if seed is None else f"{seed}/platform"))
    await firmware.power_on()
    return firmware, await KVM.start(machine, firmware)


async def _guest(kvm, seed, name="victim", policy=0):
    """A running guest with a booted guest OS: ``(vm, guest_os)``."""
    owner = GuestOwner(policy, AMDCertificate.from_bytes(kvm.amd_certificates()[0]),
                       Entropy(None if seed is None else f"{seed}/{name}"))
    image = _line(f"{name}: the launch image")
    vm, _ = await launch_guest(kvm, owner, image=image, ram_size=RAM)
    guest = GuestOS(VCPU(kvm, vm))
    await guest.boot(vm.ram)
    return vm, guest


async def _victim_line_in_dram(machine, store, seed):
    """A running victim that wrote a private line at TARGET, flushed to DRAM (WBINVD, as the host
    may do at any time): ``(kvm, vm, guest_os, the line)``."""
    _, kvm = await _platform(machine, store, seed)
    vm, guest = await _guest(kvm, seed)
    secret = _line("the victim's private data")
    await guest.write(TARGET, secret)
    await machine.wbinvd()
    return kvm, vm, guest, secret


async def _read_private(machine, store, seed):
    out = Outcome()
    kvm, vm, guest, secret = await _victim_line_in_dram(machine, store, seed)
    host_view = await kvm.read_guest_ram(vm, TARGET, LINE)
    spa, _ = vm.npt.translate(TARGET)
    dram = await machine.dram_read(spa, LINE)
    out.lines += [f"the guest wrote {secret[:32]!r}… at GPA {TARGET:#x}",
                  f"the host reads it through its own mapping: {host_view[:16].hex()}…",
                  f"DRAM holds: {dram[:16].hex()}…"]
    out.claim("the host's read returns ciphertext, not the guest's data", host_view != secret)
    out.claim("what the host reads is what DRAM holds (the unit did not decrypt it for the host)",
              host_view == dram)
    out.claim("the guest still reads its data", await guest.read(TARGET, LINE) == secret)
    return out


async def _move_ciphertext(machine, store, seed):
    out = Outcome()
    kvm, vm, guest, secret = await _victim_line_in_dram(machine, store, seed)
    ciphertext = await kvm.read_guest_ram(vm, TARGET, LINE)
    await kvm.write_guest_ram(vm, OTHER, ciphertext)
    await kvm.memory.flush(vm.npt.translate(OTHER)[0], LINE)
    moved = await guest.read(OTHER, LINE)
    out.lines += [f"the host copies the ciphertext of GPA {TARGET:#x} to GPA {OTHER:#x} of the same guest",
                  f"the guest reads at {OTHER:#x}: {moved[:16].hex()}…"]
    out.claim("the guest reads garbage at the new address: the XTS tweak is the address", moved != secret)
    out.claim("the original line is unharmed", await guest.read(TARGET, LINE) == secret)
    return out


async def _replay(machine, store, seed):
    out = Outcome()
    firmware, kvm = await _platform(machine, store, seed)
    vm, guest = await _guest(kvm, seed)
    old, new = _line("balance: 1,000,000"), _line("balance: 0")
    await guest.write(TARGET, old)
    await machine.wbinvd()
    snapshot = await kvm.read_guest_ram(vm, TARGET, LINE)           # the old ciphertext
    await guest.write(TARGET, new)
    await machine.wbinvd()
    await kvm.write_guest_ram(vm, TARGET, snapshot)                 # put it back
    await kvm.memory.flush(vm.npt.translate(TARGET)[0], LINE)
    seen = await guest.read(TARGET, LINE)
    out.lines += ["the guest writes 'balance: 1,000,000'; the host keeps that line's ciphertext",
                  "the guest writes 'balance: 0'; the host writes the old ciphertext back",
                  f"the guest reads: {seen.rstrip(b'.')!r}"]
    out.claim("the guest silently reads the old data: SEV has no integrity", seen == old)
    return out


async def _wrong_asid(machine, store, seed):
    out = Outcome()
    firmware, kvm = await _platform(machine, store, seed)
    victim, victim_os = await _guest(kvm, seed, "victim")
    attacker, attacker_os = await _guest(kvm, seed, "attacker")
    secret = _line("the victim's private data")
    await victim_os.write(TARGET, secret)
    # 1. A vCPU of the attacker's VM run with the victim's ASID, on the attacker's own pages.
    rogue = VCPU(kvm, attacker)
    rogue.asid = victim.asid
    rogue.page_table.entries = dict(attacker_os.vcpu.page_table.entries)
    own = await rogue.read(TARGET, LINE)
    # 2. The same, with the victim's pages mapped into the attacker's nested page table.
    for gpa, entry in victim.npt.entries.items():
        attacker.npt.map(gpa, entry.spa, host_c=entry.host_c)
    stolen = await rogue.read(TARGET, LINE)
    await machine.wbinvd()
    host = await kvm.read_guest_ram(victim, TARGET, LINE)
    out.lines += [f"the host runs a vCPU of VM {attacker.number} with VM {victim.number}'s ASID {victim.asid}",
                  f"on its own pages it reads: {own[:16].hex()}… (its memory under the wrong key)",
                  f"with the victim's pages mapped in, the code in that vCPU reads: {stolen.rstrip(b'.')!r}",
                  f"the host itself still reads ciphertext: {host[:16].hex()}…"]
    out.claim("with the wrong ASID the attacker's own memory decrypts to garbage",
              own != _line("attacker: the launch image") and own != secret)
    out.claim("code running in a vCPU with the victim's ASID over the victim's pages reads its plaintext",
              stolen == secret)
    out.claim("the hypervisor's own reads stay ciphertext", host != secret)
    return out


async def _refusals(machine, store, seed):
    out = Outcome()
    firmware, kvm = await _platform(machine, store, seed)
    vm, guest = await _guest(kvm, seed, policy=NODBG)
    try:
        await kvm.dbg_decrypt(vm, TARGET, LINE)
        debug = None
    except FirmwareError as error:
        debug = error.status
    out.lines.append(f"DBG_DECRYPT of the NODBG guest: {debug.name if debug else 'allowed'}")
    out.claim("DBG_DECRYPT on a NODBG guest is refused with POLICY_FAILURE", debug is Status.POLICY_FAILURE)
    # A rogue host reuses the ASID right after DEACTIVATE, skipping WBINVD and DF_FLUSH.
    asid = vm.asid
    await kvm.psp.call(C.DEACTIVATE, handle=vm.handle)
    second = (await kvm.psp.call(C.LAUNCH_START, policy=0))["handle"]
    reuse = (await kvm.psp.issue(C.ACTIVATE, handle=second, asid=asid))[0]
    flush_first = (await kvm.psp.issue(C.DF_FLUSH))[0]
    await machine.wbinvd()
    flush_after = (await kvm.psp.issue(C.DF_FLUSH))[0]
    again = (await kvm.psp.issue(C.ACTIVATE, handle=second, asid=asid))[0]
    out.lines += [f"ACTIVATE of ASID {asid} right after its DEACTIVATE: {reuse.name}",
                  f"DF_FLUSH without a WBINVD since: {flush_first.name}",
                  f"WBINVD, then DF_FLUSH: {flush_after.name}; ACTIVATE again: {again.name}"]
    out.claim("reusing a deactivated ASID before DF_FLUSH is refused (DFFLUSH_REQUIRED)",
              reuse is Status.DFFLUSH_REQUIRED)
    out.claim("DF_FLUSH without a WBINVD since the DEACTIVATE is refused (WBINVD_REQUIRED)",
              flush_first is Status.WBINVD_REQUIRED)
    out.claim("after WBINVD and DF_FLUSH the ASID can be bound again",
              flush_after is Status.SUCCESS and again is Status.SUCCESS)
    return out


ATTACKS = {attack.name: attack for attack in (
    Attack("read-private", "the hypervisor reads a guest's private page",
           "The hypervisor owns the page tables and can read any system page. Through its own "
           "mapping (ASID 0, C-bit clear) the unit does not decrypt, and it has no other way to ask "
           "for the guest's key: the key sits in a slot selected by the guest's ASID, which only a "
           "vCPU of that guest carries. What it gets is the ciphertext DRAM holds.",
           _read_private),
    Attack("move-ciphertext", "the hypervisor moves a guest's ciphertext to another address",
           "The hypervisor copies a line of the guest's ciphertext to another address of the same "
           "guest. The cipher is XTS with the physical address as tweak, so the same key decrypts "
           "it to garbage there: ciphertext cannot be moved around inside a guest to rearrange its "
           "data.",
           _move_ciphertext),
    Attack("replay", "the hypervisor replays an old ciphertext at the same address",
           "At the same address the tweak is the same, so an old ciphertext still decrypts — to the "
           "old data. SEV (and SEV-ES) has no integrity: the guest silently reads stale memory. "
           "SEV-SNP adds it: the reverse map table records which guest owns each page and the "
           "guest validates its pages, so the hypervisor can no longer write a guest's private "
           "pages at all.",
           _replay),
    Attack("wrong-asid", "the hypervisor runs a vCPU with another guest's ASID",
           "The hypervisor chooses the ASID each vCPU runs with. Run with another guest's ASID, a "
           "vCPU's private accesses use that guest's key: over its own pages it reads garbage; over "
           "the victim's pages, mapped in by the hypervisor, the code running in that vCPU reads "
           "the victim's plaintext. The hypervisor itself still sees only ciphertext — it needs code "
           "executing in the guest context to use the key. SEV-ES protects the register state such "
           "an attack relies on; SEV-SNP's reverse map table refuses the mapping.",
           _wrong_asid),
    Attack("refusals", "what the firmware refuses: debugging a NODBG guest, reusing an ASID early",
           "A guest whose policy has NODBG cannot be read with DBG_DECRYPT, whoever asks. A "
           "deactivated ASID may still tag dirty lines in the cache: binding it to a new key before "
           "WBINVD and DF_FLUSH would write the old guest's data under the new key, so the firmware "
           "refuses ACTIVATE (DFFLUSH_REQUIRED) and refuses DF_FLUSH until a WBINVD has happened "
           "(WBINVD_REQUIRED), reading the WBINVD count from the hardware.",
           _refusals),
)}


def run_attack(name, machine, store, seed=None):
    """Run one demonstration on ``machine``; returns its :class:`Outcome`."""
    return machine.run(lambda m: ATTACKS[name].scenario(m, store, seed))
