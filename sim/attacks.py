"""The attack demonstrations: what a malicious hypervisor can and cannot do to an SEV guest.

Each goes after a running guest (:class:`Victim`) and states its claims, checked on what the
hardware returned: ``sevlab demo`` runs them on its guest, ``sevlab attack NAME`` on a guest of
its own (launched as in the demo), ``tests/sim/test_attacks.py`` requires them.
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

__all__ = ["ATTACKS", "Attack", "Outcome", "Victim", "run_attack", "asid_reuse", "debug_refused"]

RAM = 2 * PAGE
NODBG = int(PolicyFlags.NODBG)


@dataclass
class Victim:
    """A running SEV guest: its host, its VM, its booted guest OS, and two private lines of its
    RAM that hold nothing it needs (``target``, ``other``), which the attacks overwrite."""
    kvm: KVM
    vm: object
    guest: GuestOS
    target: int
    other: int

    @property
    def machine(self):
        return self.kvm.machine


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
    scenario: object                # async (Victim) -> Outcome


def _line(text):
    return text.encode().ljust(LINE, b".")[:LINE]


async def _platform(machine, store, seed):
    firmware = SEVFirmware(machine, store, Entropy(None if seed is None else f"{seed}/platform"))
    await firmware.power_on()
    return firmware, await KVM.start(machine, firmware)


async def _guest(kvm, seed):
    """A running NODBG guest (the demo's policy has NODBG too) with a booted guest OS:
    ``(vm, guest_os)``."""
    owner = GuestOwner(NODBG, AMDCertificate.from_bytes(kvm.amd_certificates()[0]),
                       Entropy(None if seed is None else f"{seed}/victim"))
    image = _line("victim: the launch image")
    vm, _ = await launch_guest(kvm, owner, image=image, ram_size=RAM)
    guest = GuestOS(VCPU(kvm, vm))
    await guest.boot(vm.ram)
    return vm, guest


async def _private_line_in_dram(victim, text="the victim's private data"):
    """The guest writes a private line at ``target``; the host WBINVDs (as it may at any time),
    so DRAM holds its ciphertext. Returns the line."""
    secret = _line(text)
    await victim.guest.write(victim.target, secret)
    await victim.machine.wbinvd()
    return secret


async def _read_private(victim):
    out = Outcome()
    kvm, vm, target = victim.kvm, victim.vm, victim.target
    secret = await _private_line_in_dram(victim)
    host_view = await kvm.read_guest_ram(vm, target, LINE)
    spa, _ = vm.npt.translate(target)
    dram = await victim.machine.dram_read(spa, LINE)
    out.lines += [f"the guest wrote {secret[:32]!r}… at GPA {target:#x}",
                  f"the host reads it through its own mapping: {host_view[:16].hex()}…",
                  f"DRAM holds: {dram[:16].hex()}…"]
    out.claim("the host's read returns ciphertext, not the guest's data", host_view != secret)
    out.claim("what the host reads is what DRAM holds (the unit did not decrypt it for the host)",
              host_view == dram)
    out.claim("the guest still reads its data", await victim.guest.read(target, LINE) == secret)
    return out


async def _move_ciphertext(victim):
    out = Outcome()
    kvm, vm, guest, target, other = victim.kvm, victim.vm, victim.guest, victim.target, victim.other
    secret = await _private_line_in_dram(victim)
    ciphertext = await kvm.read_guest_ram(vm, target, LINE)
    await kvm.write_guest_ram(vm, other, ciphertext)
    await kvm.memory.flush(vm.npt.translate(other)[0], LINE)
    moved = await guest.read(other, LINE)
    out.lines += [f"the host copies the ciphertext of GPA {target:#x} to GPA {other:#x} of the same guest",
                  f"the guest reads at {other:#x}: {moved[:16].hex()}…"]
    out.claim("the guest reads garbage at the new address: the XTS tweak is the address", moved != secret)
    out.claim("the original line is unharmed", await guest.read(target, LINE) == secret)
    return out


async def _replay(victim):
    out = Outcome()
    kvm, vm, guest, target = victim.kvm, victim.vm, victim.guest, victim.target
    old, new = _line("balance: 1,000,000"), _line("balance: 0")
    await _private_line_in_dram(victim, "balance: 1,000,000")
    snapshot = await kvm.read_guest_ram(vm, target, LINE)           # the old ciphertext
    await guest.write(target, new)
    await victim.machine.wbinvd()
    await kvm.write_guest_ram(vm, target, snapshot)                 # put it back
    await kvm.memory.flush(vm.npt.translate(target)[0], LINE)
    seen = await guest.read(target, LINE)
    out.lines += ["the guest writes 'balance: 1,000,000'; the host keeps that line's ciphertext",
                  "the guest writes 'balance: 0'; the host writes the old ciphertext back",
                  f"the guest reads: {seen.rstrip(b'.')!r}"]
    out.claim("the guest silently reads the old data: SEV has no integrity", seen == old)
    return out


async def _wrong_asid(victim):
    out = Outcome()
    kvm, vm, target = victim.kvm, victim.vm, victim.target
    secret = await _private_line_in_dram(victim)
    # The host's own VM (no SEV): its code writes a page, and the host runs its vCPU with the
    # victim's ASID and every page mapped private.
    attacker = kvm.create_vm()
    kvm.add_ram(attacker, 0, PAGE)
    own_data = _line("the attacker's own page")
    await kvm.write_guest_ram(attacker, target, own_data)
    await kvm.memory.flush(attacker.npt.translate(target)[0], LINE)
    rogue = VCPU(kvm, attacker)
    rogue.asid = vm.asid
    rogue.page_table.map(0, kvm.cbit)
    own = await rogue.read(target, LINE)
    # The same vCPU, with the victim's page mapped into the attacker's nested page table.
    page = target - target % PAGE
    own_spa, own_c = attacker.npt.translate(page)
    victim_spa, victim_c = vm.npt.translate(page)
    attacker.npt.map(page, victim_spa, host_c=victim_c)
    stolen = await rogue.read(target, LINE)
    await victim.machine.wbinvd()
    host = await kvm.read_guest_ram(vm, target, LINE)
    attacker.npt.map(page, own_spa, host_c=own_c)        # its own page back, then gone
    await kvm.destroy(attacker)
    out.lines += [f"the host runs a vCPU of its own VM {attacker.number} with VM {vm.number}'s ASID {vm.asid}",
                  f"on its own page it reads: {own[:16].hex()}… (its data under the victim's key)",
                  f"with the victim's page mapped in, the code in that vCPU reads: {stolen.rstrip(b'.')!r}",
                  f"the host itself still reads ciphertext: {host[:16].hex()}…"]
    out.claim("with the victim's ASID the attacker's own memory decrypts to garbage",
              own not in (own_data, secret))
    out.claim("code running in a vCPU with the victim's ASID over the victim's pages reads its plaintext",
              stolen == secret)
    out.claim("the hypervisor's own reads stay ciphertext", host != secret)
    return out


async def _refusals(victim):
    """DBG_DECRYPT of the (NODBG) victim; then the victim is shut down the way a rogue host
    would (DEACTIVATE with no WBINVD) and its ASID reused early."""
    out = await debug_refused(victim)
    await victim.kvm.psp.call(C.DEACTIVATE, handle=victim.vm.handle)
    reuse = await asid_reuse(victim.kvm, victim.vm.asid)
    out.lines += reuse.lines
    out.claims += reuse.claims
    return out


async def debug_refused(victim):
    """DBG_DECRYPT of a line of the (NODBG) victim."""
    out = Outcome()
    try:
        await victim.kvm.dbg_decrypt(victim.vm, victim.target, LINE)
        debug = None
    except FirmwareError as error:
        debug = error.status
    out.lines.append(f"DBG_DECRYPT of the NODBG guest: {debug.name if debug else 'allowed'}")
    out.claim("DBG_DECRYPT on a NODBG guest is refused with POLICY_FAILURE", debug is Status.POLICY_FAILURE)
    return out


async def asid_reuse(kvm, asid):
    """Try to bind ``asid``, just deactivated (no WBINVD since), to a new guest context before
    WBINVD and DF_FLUSH; then do both and bind it; then let it go again (DEACTIVATE,
    DECOMMISSION: the ASID is back where it was)."""
    out = Outcome()
    probe = (await kvm.psp.call(C.LAUNCH_START, policy=0))["handle"]
    reuse = (await kvm.psp.issue(C.ACTIVATE, handle=probe, asid=asid))[0]
    flush_first = (await kvm.psp.issue(C.DF_FLUSH))[0]
    await kvm.machine.wbinvd()
    flush_after = (await kvm.psp.issue(C.DF_FLUSH))[0]
    again = (await kvm.psp.issue(C.ACTIVATE, handle=probe, asid=asid))[0]
    if again is Status.SUCCESS:
        await kvm.psp.call(C.DEACTIVATE, handle=probe)
    await kvm.psp.call(C.DECOMMISSION, handle=probe)
    out.lines += [f"ACTIVATE of ASID {asid} for a new guest right after its DEACTIVATE: {reuse.name}",
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
    """Launch a guest on ``machine`` (a platform of its own) and run one demonstration on it;
    returns its :class:`Outcome`."""
    async def scenario(m):
        _, kvm = await _platform(m, store, seed)
        vm, guest = await _guest(kvm, seed)
        return await ATTACKS[name].scenario(Victim(kvm, vm, guest, target=PAGE // 2, other=PAGE // 2 + 4 * LINE))
    return machine.run(scenario)
