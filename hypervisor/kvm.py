"""A KVM-like host: VMs, ASIDs, guest memory behind nested page tables, and the KVM SEV command
set (``sev-reference.md`` §13–§14), each turned into firmware mailbox commands with their
buffers in the host's own memory.

The host never holds a guest key, TEK or TIK: what it passes the firmware are the guest owner's
blobs (GODH certificate, session, secret packet) and the firmware's own outputs (handles,
measurements, migration packets), all opaque to it. ``tests/hypervisor/test_kvm.py`` checks
that nothing it keeps is a key.
"""

from dataclasses import dataclass, field

from ..firmware.commands import CommandId
from ..firmware.guest import MAX_REGION_BYTES
from ..firmware.states import PlatformState
from ..sim.machine import UnitDriver
from .asids import ASIDAllocator
from .hostmem import PAGE, HostMemory
from .npt import NestedPageTable
from .psp import FirmwareError, PSPDriver

__all__ = ["KVM", "VM", "FirmwareError"]

C = CommandId
CERT_SIZE = 2084                # a SEV certificate (§7.2)
HEADER_SIZE = 52                # LAUNCH_SECRET / migration packet header (§10, §12)
MEASURE_SIZE = 48               # LAUNCH_MEASURE: MEASURE ‖ MNONCE
REPORT_SIZE = 208               # ATTESTATION (§11)


@dataclass
class VM:
    """One virtual machine as the host keeps it. ``handle`` and ``asid`` are the firmware's
    handle and the ASID its vCPUs run with; nothing here is secret."""
    number: int
    npt: NestedPageTable = field(default_factory=NestedPageTable)
    asid: int | None = None
    es: bool = False
    handle: int | None = None
    policy: int | None = None
    ram: list = field(default_factory=list)         # (gpa, size) regions
    shared: set = field(default_factory=set)        # pages the guest says it shares (hypercall)
    destroyed: bool = False

    @property
    def sev(self):
        return self.asid is not None


class KVM:
    """The host kernel's KVM with SEV, on one machine and its firmware.

    Use :meth:`start` (an async constructor): it reads the hardware's CPUID-like register for
    the C-bit and the ASID ranges.
    """

    def __init__(self, machine, firmware, *, host_sme, cbit, min_sev_asid, max_sev_asid):
        self.machine = machine
        self.memory = HostMemory(machine, me_mask=cbit if host_sme else 0)
        self.psp = PSPDriver(firmware, self.memory)
        self.cbit = cbit
        self.host_sme = host_sme
        self.asids = ASIDAllocator(min_sev_asid, max_sev_asid)
        self.vms = []

    @classmethod
    async def start(cls, machine, firmware, *, host_sme=False):
        cpuid = await UnitDriver(machine).cpuid()
        return cls(machine, firmware, host_sme=host_sme, cbit=1 << cpuid["ebx"]["cbit_position"],
                   min_sev_asid=cpuid["edx"]["min_sev_asid"], max_sev_asid=cpuid["ecx"]["asids"])

    # Host buffers for one command (KVM's kmalloc'd pages) ---------------------------------------
    async def _buffers(self, *blobs):
        """Fresh host pages for each blob — bytes the firmware reads (written through the
        cache, which the firmware's reads snoop), or an int, the size of a buffer the firmware
        writes. Returns the pages and each buffer's address as the firmware is given it."""
        pages, addresses = [], []
        for blob in blobs:
            size = blob if isinstance(blob, int) else len(blob)
            own = self.memory.pages.allocate(max(1, -(-size // PAGE)))
            if any(b - a != PAGE for a, b in zip(own, own[1:])):
                raise RuntimeError("host buffer pages are not contiguous")   # the pool hands out in order
            if not isinstance(blob, int) and blob:
                await self.memory.write(own[0], blob)
            pages += own
            addresses.append(self.memory.pa(own[0]))
        return pages, addresses

    async def _read_buffer(self, address, length):
        return await self.memory.read(address & ~self.cbit, length)

    # The platform ---------------------------------------------------------------------------
    async def platform_status(self):
        return await self.psp.call(C.PLATFORM_STATUS)

    async def platform_init(self):
        """``sev_platform_init``: INIT if the platform is UNINIT."""
        if (await self.platform_status())["state"] == PlatformState.UNINIT:
            await self.psp.call(C.INIT)

    async def pdh_cert_export(self):
        """``(pdh, pek ‖ oca ‖ cek)`` as bytes: what the host hands a guest owner or a source.
        INITs the platform first if needed, as Linux's ``SEV_PDH_CERT_EXPORT`` ioctl does."""
        await self.platform_init()
        pages, (pdh_at, chain_at) = await self._buffers(CERT_SIZE, 3 * CERT_SIZE)
        try:
            await self.psp.call(C.PDH_CERT_EXPORT, pdh_cert_address=pdh_at, pdh_cert_length=CERT_SIZE,
                                cert_chain_address=chain_at, cert_chain_length=3 * CERT_SIZE)
            return (await self._read_buffer(pdh_at, CERT_SIZE),
                    await self._read_buffer(chain_at, 3 * CERT_SIZE))
        finally:
            self.memory.pages.release(pages)

    def amd_certificates(self):
        """``(ark, ask)`` bytes: what the host fetches from AMD's key server for its chip. The
        model's stand-in is the chip's manufactured certificates (public data)."""
        ark, ask = self.psp.firmware.amd_certificates()
        return ark.to_bytes(), ask.to_bytes()

    async def flush_asids(self):
        """``sev_flush_asids``: WBINVD on every core, then DF_FLUSH; every reclaimable ASID is
        free again."""
        await self.machine.wbinvd()
        await self.psp.call(C.DF_FLUSH)
        self.asids.recycled()

    # VMs and guest memory ------------------------------------------------------------------------
    def create_vm(self):
        vm = VM(number=len(self.vms) + 1)
        self.vms.append(vm)
        return vm

    def add_ram(self, vm, gpa, size):
        """``KVM_MEMORY_ENCRYPT_REG_REGION`` and the memslot: back ``[gpa, gpa + size)`` with
        pinned system pages, mapped with the host's C-bit when host SME is on."""
        if gpa % PAGE or size % PAGE or size <= 0:
            raise ValueError(f"guest RAM is whole pages: GPA {gpa:#x}, size {size:#x}")
        for offset, spa in zip(range(0, size, PAGE), self.memory.pages.allocate(size // PAGE)):
            vm.npt.map(gpa + offset, spa, host_c=self.host_sme)
        vm.ram.append((gpa, size))

    def hypercall_map_gpa_range(self, vm, gpa, pages, *, shared):
        """``KVM_HC_MAP_GPA_RANGE``: the guest tells the host which pages it made shared or
        private again (the host needs it to migrate shared pages in plaintext)."""
        for page in range(gpa - gpa % PAGE, gpa + pages * PAGE, PAGE):
            (vm.shared.add if shared else vm.shared.discard)(page)

    async def write_guest_ram(self, vm, gpa, data):
        """The VMM (QEMU) writing guest RAM through its own mapping: how the firmware image gets
        there before LAUNCH_UPDATE_DATA, and what a hypervisor writing a guest's page does."""
        for page_gpa, spa, length in vm.npt.pages(gpa, len(data)):
            await self.memory.write(spa, data[page_gpa - gpa:page_gpa - gpa + length])

    async def read_guest_ram(self, vm, gpa, length):
        """The host reading guest RAM through its own mapping: a private page reads as
        ciphertext (the unit decrypts it with the host's key, or not at all). A private page's
        lines are flushed after: a host-tagged copy of it must not stay in the cache, where the
        guest's next write (under its own tag) would leave it stale. A shared page needs no
        flush: the guest's C=0 accesses carry the host's tag (``vcpu.py``)."""
        out = b""
        for page_gpa, spa, chunk in vm.npt.pages(gpa, length):
            out += await self.memory.read(spa, chunk)
            if page_gpa - page_gpa % PAGE not in vm.shared:
                await self.memory.flush(spa, chunk)
        return out

    async def _flush_guest(self, vm, gpa, length):
        """``sev_clflush_pages``: flush the range as the host maps it, before the firmware
        rewrites it under the guest's tag (a dirty host line written back later would undo
        that)."""
        for _, spa, chunk in vm.npt.pages(gpa, length):
            await self.memory.flush(spa, chunk)

    # KVM_SEV_INIT and the launch -----------------------------------------------------------------
    async def sev_init(self, vm, *, es=False):
        """``KVM_SEV_INIT``: an ASID (recycling reclaimable ones when none is free, as
        ``sev_asid_new`` does) and the platform INIT."""
        asid = self.asids.take(es=es)
        if asid is None:
            await self.flush_asids()
            asid = self.asids.take(es=es)
        vm.asid, vm.es = asid, es
        await self.platform_init()

    async def launch_start(self, vm, policy, *, godh_cert=b"", session=b""):
        """``KVM_SEV_LAUNCH_START`` then ACTIVATE with the VM's ASID (DECOMMISSION if the bind
        fails). ``godh_cert`` and ``session`` are the guest owner's blobs; without them the
        firmware picks the transport keys itself."""
        pages, (godh_at, session_at) = await self._buffers(godh_cert, session)
        try:
            outputs = await self.psp.call(
                C.LAUNCH_START, policy=policy,
                dh_cert_address=godh_at if godh_cert else 0, dh_cert_length=len(godh_cert),
                session_address=session_at if session else 0, session_length=len(session))
        finally:
            self.memory.pages.release(pages)
        return await self._bind(vm, outputs["handle"], policy)

    async def _bind(self, vm, handle, policy):
        """ACTIVATE a new guest context with the VM's ASID; DECOMMISSION it if the bind fails
        (what KVM does after LAUNCH_START and RECEIVE_START)."""
        try:
            await self.psp.call(C.ACTIVATE, handle=handle, asid=vm.asid)
        except FirmwareError:
            await self.psp.call(C.DECOMMISSION, handle=handle)
            raise
        vm.handle, vm.policy = handle, policy
        return handle

    async def launch_update_data(self, vm, gpa, length):
        """``KVM_SEV_LAUNCH_UPDATE_DATA``: flush the range, then LAUNCH_UPDATE_DATA once per
        physically contiguous run (in place: the pages now hold the guest's ciphertext)."""
        await self._flush_guest(vm, gpa, length)
        for spa, run in vm.npt.runs(gpa, length):
            for offset in range(0, run, MAX_REGION_BYTES):      # the firmware takes 1 MiB at most
                await self.psp.call(C.LAUNCH_UPDATE_DATA, handle=vm.handle, address=self.memory.pa(spa + offset),
                                    length=min(MAX_REGION_BYTES, run - offset))

    async def launch_measure(self, vm):
        """``KVM_SEV_LAUNCH_MEASURE``: the length probe, then the 48 bytes MEASURE ‖ MNONCE."""
        status, outputs = await self.psp.issue(C.LAUNCH_MEASURE, handle=vm.handle, address=0, length=0)
        length = outputs["length"]
        pages, (out_at,) = await self._buffers(length)
        try:
            await self.psp.call(C.LAUNCH_MEASURE, handle=vm.handle, address=out_at, length=length)
            return await self._read_buffer(out_at, length)
        finally:
            self.memory.pages.release(pages)

    async def launch_secret(self, vm, header, gpa, trans):
        """``KVM_SEV_LAUNCH_SECRET``: the guest owner's packet, into guest page ``gpa``."""
        spa, _ = vm.npt.translate(gpa)
        if vm.npt.translate(gpa + len(trans) - 1)[0] != spa + len(trans) - 1:
            raise ValueError("the secret must not cross a page")
        await self._flush_guest(vm, gpa, len(trans))
        pages, (header_at, trans_at) = await self._buffers(header, trans)
        try:
            await self.psp.call(C.LAUNCH_SECRET, handle=vm.handle, header_address=header_at,
                                header_length=len(header), guest_address=self.memory.pa(spa),
                                guest_length=len(trans), trans_address=trans_at, trans_length=len(trans))
        finally:
            self.memory.pages.release(pages)

    async def launch_finish(self, vm):
        await self.psp.call(C.LAUNCH_FINISH, handle=vm.handle)

    async def guest_status(self, vm):
        return await self.psp.call(C.GUEST_STATUS, handle=vm.handle)

    async def attestation(self, vm, mnonce):
        """``KVM_SEV_GET_ATTESTATION_REPORT``: the 208-byte report for the owner's nonce."""
        pages, (out_at,) = await self._buffers(REPORT_SIZE)
        try:
            await self.psp.call(C.ATTESTATION, handle=vm.handle, address=out_at, mnonce=mnonce,
                                length=REPORT_SIZE)
            return await self._read_buffer(out_at, REPORT_SIZE)
        finally:
            self.memory.pages.release(pages)

    # Debug ---------------------------------------------------------------------------------------
    async def dbg_decrypt(self, vm, gpa, length):
        """``KVM_SEV_DBG_DECRYPT``, page by page through a bounce page of the host's."""
        pages, (bounce_at,) = await self._buffers(PAGE)
        out = b""
        try:
            for page_gpa, spa, chunk in vm.npt.pages(gpa, length):
                await self._flush_guest(vm, page_gpa, chunk)
                await self.psp.call(C.DBG_DECRYPT, handle=vm.handle, src_address=spa,
                                    dst_address=bounce_at, length=chunk)
                out += await self._read_buffer(bounce_at, chunk)
        finally:
            self.memory.pages.release(pages)
        return out

    async def dbg_encrypt(self, vm, gpa, data):
        """``KVM_SEV_DBG_ENCRYPT``, page by page through a bounce page of the host's."""
        pages, (bounce_at,) = await self._buffers(PAGE)
        try:
            for page_gpa, spa, chunk in vm.npt.pages(gpa, len(data)):
                await self.memory.write(bounce_at & ~self.cbit, data[page_gpa - gpa:page_gpa - gpa + chunk])
                await self._flush_guest(vm, page_gpa, chunk)
                await self.psp.call(C.DBG_ENCRYPT, handle=vm.handle, src_address=bounce_at,
                                    dst_address=spa, length=chunk)
        finally:
            self.memory.pages.release(pages)

    # Migration -----------------------------------------------------------------------------------
    async def send_start(self, vm, target_pdh, target_chain, amd_certs):
        """``KVM_SEV_SEND_START`` to a target whose PDH, PEK ‖ OCA ‖ CEK and ASK ‖ ARK are given;
        returns the session blob for the target."""
        size = 128
        pages, (pdh_at, chain_at, amd_at, session_at) = await self._buffers(
            target_pdh, target_chain, amd_certs, size)
        try:
            await self.psp.call(C.SEND_START, handle=vm.handle, pdh_cert_address=pdh_at,
                                pdh_cert_length=len(target_pdh), plat_certs_address=chain_at,
                                plat_certs_length=len(target_chain), amd_certs_address=amd_at,
                                amd_certs_length=len(amd_certs), session_address=session_at,
                                session_length=size)
            return await self._read_buffer(session_at, size)
        finally:
            self.memory.pages.release(pages)

    async def send_update_data(self, vm, gpa, length):
        """``KVM_SEV_SEND_UPDATE_DATA`` page by page: ``[(gpa, header, trans), ...]``."""
        packets = []
        pages, (header_at, trans_at) = await self._buffers(HEADER_SIZE, PAGE)
        try:
            for page_gpa, spa, chunk in vm.npt.pages(gpa, length):
                # No flush: the firmware reads the page under the guest's own tag.
                await self.psp.call(C.SEND_UPDATE_DATA, handle=vm.handle, header_address=header_at,
                                    header_length=HEADER_SIZE, guest_address=spa, guest_length=chunk,
                                    trans_address=trans_at, trans_length=chunk)
                packets.append((page_gpa, await self._read_buffer(header_at, HEADER_SIZE),
                                await self._read_buffer(trans_at, chunk)))
        finally:
            self.memory.pages.release(pages)
        return packets

    async def send_finish(self, vm):
        await self.psp.call(C.SEND_FINISH, handle=vm.handle)

    async def send_cancel(self, vm):
        await self.psp.call(C.SEND_CANCEL, handle=vm.handle)

    async def receive_start(self, vm, policy, source_pdh, session):
        """``KVM_SEV_RECEIVE_START`` with the source's PDH and session, then ACTIVATE."""
        pages, (pdh_at, session_at) = await self._buffers(source_pdh, session)
        try:
            outputs = await self.psp.call(C.RECEIVE_START, policy=policy, pdh_cert_address=pdh_at,
                                          pdh_cert_length=len(source_pdh), session_address=session_at,
                                          session_length=len(session))
        finally:
            self.memory.pages.release(pages)
        return await self._bind(vm, outputs["handle"], policy)

    async def receive_update_data(self, vm, gpa, header, trans):
        spa, _ = vm.npt.translate(gpa)
        await self._flush_guest(vm, gpa, len(trans))
        pages, (header_at, trans_at) = await self._buffers(header, trans)
        try:
            await self.psp.call(C.RECEIVE_UPDATE_DATA, handle=vm.handle, header_address=header_at,
                                header_length=len(header), guest_address=spa, guest_length=len(trans),
                                trans_address=trans_at, trans_length=len(trans))
        finally:
            self.memory.pages.release(pages)

    async def receive_finish(self, vm):
        await self.psp.call(C.RECEIVE_FINISH, handle=vm.handle)

    # Teardown --------------------------------------------------------------------------------------
    async def destroy(self, vm):
        """VM destroy as KVM does it (§13): WBINVD (CLFLUSH cannot reach lines tagged with the
        guest's ASID from the host), DEACTIVATE, DECOMMISSION, the ASID to the reclaim set, the
        pages unpinned and freed. The ASID is reusable only after :meth:`flush_asids`."""
        if vm.sev:
            await self.machine.wbinvd()
            if vm.handle is not None:
                await self.psp.call(C.DEACTIVATE, handle=vm.handle)
                await self.psp.call(C.DECOMMISSION, handle=vm.handle)
            self.asids.release(vm.asid)
        for gpa, size in vm.ram:
            self.memory.pages.release([vm.npt.unmap(gpa + offset).spa for offset in range(0, size, PAGE)])
        vm.ram.clear()
        vm.destroyed = True

