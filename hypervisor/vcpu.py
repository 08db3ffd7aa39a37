"""A virtual CPU: the guest's memory accesses as the core puts them on the bus.

Two translations decide an access. The guest's own page table (its C-bit per page) says private
or shared; the host's nested page table says which system page and, for a shared page, the host's
C-bit. A private access goes out with the C-bit and the VM's ASID, so the unit uses the guest's
key; a shared one goes out as the host would make it (ASID 0, with the C-bit only when the host
maps the page encrypted with its SME key). The core keys the cache and the unit by (C-bit, ASID),
so the host's NPT cannot make a private access shared, nor the reverse.

Not modelled: instructions, registers, page-table walks through memory (the guest's table is a
Python mapping; on a real part its walks are always private), TLBs, VMCBs. The ASID a vCPU runs
with is the VMCB's, which the hypervisor writes: :attr:`VCPU.asid` is the host's choice, as in
the attack where a vCPU runs with another guest's ASID.
"""

from ..sim.machine import UnitDriver
from .hostmem import LINE, PAGE

__all__ = ["VCPU", "GuestPageTable", "GuestPageFault"]


class GuestPageFault(Exception):
    """A guest access to a page its own page table does not map."""


class GuestPageTable:
    """The guest's page table, reduced to one entry per 4 KiB page: the entry's address bits
    and its C-bit, which the guest OS sets with the mask it learnt from CPUID (the hardware
    looks at its own C-bit position: a guest that got it wrong would map its pages shared)."""

    def __init__(self):
        self.entries = {}

    def map(self, gpa, bits):
        """Map the page of ``gpa``; ``bits`` is the C-bit mask the guest ORs in, or 0."""
        page = gpa - gpa % PAGE
        self.entries[page] = page | bits

    def entry(self, gpa):
        try:
            return self.entries[gpa - gpa % PAGE]
        except KeyError:
            raise GuestPageFault(f"GPA {gpa:#x} is not mapped by the guest") from None


class VCPU:
    """One vCPU of ``vm`` on ``kvm``'s machine, running with ``vm.asid`` unless told otherwise."""

    def __init__(self, kvm, vm, index=0):
        self.kvm, self.vm, self.index = kvm, vm, index
        self.asid = vm.asid
        self.page_table = GuestPageTable()

    @property
    def machine(self):
        return self.kvm.machine

    async def cpuid(self):
        """CPUID Fn8000_001F, passed through from the hardware as KVM does."""
        return await UnitDriver(self.machine).cpuid()

    def bus_address(self, gpa):
        """``(system address with or without the C-bit, ASID)`` of a guest access."""
        spa, host_c = self.vm.npt.translate(gpa)
        if self.page_table.entry(gpa) & self.kvm.cbit:
            return spa | self.kvm.cbit, self.asid
        return spa | (self.kvm.cbit if host_c else 0), 0

    def _pieces(self, gpa, length):
        """The range cut at page boundaries: ``[(gpa, system address, ASID, length)]``."""
        out = []
        for page_gpa, _, chunk in self.vm.npt.pages(gpa, length):
            out.append((page_gpa, *self.bus_address(page_gpa), chunk))
        return out

    async def read(self, gpa, length):
        data = b""
        for _, address, asid, chunk in self._pieces(gpa, length):
            data += await self.machine.read(address, chunk, asid=asid)
        return data

    async def write(self, gpa, data):
        for page_gpa, address, asid, chunk in self._pieces(gpa, len(data)):
            await self.machine.write(address, data[page_gpa - gpa:page_gpa - gpa + chunk], asid=asid)

    async def clflush(self, gpa, length):
        """CLFLUSH every line of the range, as this vCPU maps it now."""
        for _, address, asid, chunk in self._pieces(gpa, length):
            first = address - address % LINE
            for line in range(first, address + chunk, LINE):
                await self.machine.clflush(line, asid=asid)
