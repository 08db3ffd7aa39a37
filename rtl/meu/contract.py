"""What both encryption units (this folder's and ``rtl/meu_small``'s) share: their parameter
checks, their ports, and their secure port with the identity (CPUID) registers. See
``rtl/meu/README.md``, "Interfaces" and "Registers"."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..csr import CSRDecoder, csr_bus_signature
from ..layouts import axi4_signature
from .regmap import CSR_ADDRESS_WIDTH, KEYSLOT_WINDOW, MEU_WINDOW

__all__ = ["check_unit_parameters", "unit_signature", "build_secure_port"]


def check_unit_parameters(*, address_width, cbit_position):
    if not 8 <= address_width <= 64:
        raise ValueError(f"Address width must be 8..64, not {address_width!r}")
    if not 6 <= cbit_position < address_width:
        raise ValueError(f"C-bit position must be 6..{address_width - 1}, not {cbit_position!r}")


def unit_signature(*, address_width, id_width, asid_width):
    """The members: ``host`` and ``priv`` (AXI4 subordinates, ASID in AxUSER), ``dram`` (AXI4
    manager, ID 0) and ``csr`` (the secure port)."""
    host = axi4_signature(address_width=address_width, id_width=id_width, user_width=asid_width)
    return {
        "host": In(host),
        "priv": In(host),
        "dram": Out(axi4_signature(address_width=address_width, id_width=1)),
        "csr": In(csr_bus_signature(CSR_ADDRESS_WIDTH)),
    }


def build_secure_port(m, *, csr, bank, keyslots, slots, min_sev_asid):
    """The unit's registers at word 0x00 and the key slots' at 0x20 on ``csr``, and the CPUID
    registers; returns CONFIG's ``sme_enable``, ``tsme`` and ``cbit_position``."""
    m.submodules.csr_decoder = decoder = CSRDecoder(
        address_width=CSR_ADDRESS_WIDTH, windows=[MEU_WINDOW, KEYSLOT_WINDOW])
    m.submodules.bank = bank
    m.submodules.keyslots = keyslots
    wiring.connect(m, wiring.flipped(csr), decoder.bus)
    wiring.connect(m, decoder.bus_0, bank.bus)
    wiring.connect(m, decoder.bus_1, keyslots.csr)
    sme_enable = bank.field("CONFIG", "sme_enable").data
    tsme = bank.field("CONFIG", "tsme").data
    cbit_position = bank.field("CONFIG", "cbit_position").data
    m.d.comb += [
        bank.field("CPUID_EAX", "sme").r_data.eq(1),
        bank.field("CPUID_EAX", "sev").r_data.eq(1),
        bank.field("CPUID_EBX", "cbit_position").r_data.eq(cbit_position),
        bank.field("CPUID_EBX", "pa_reduction").r_data.eq(1),
        bank.field("CPUID_ECX", "asids").r_data.eq(slots - 1),
        bank.field("CPUID_EDX", "min_sev_asid").r_data.eq(min_sev_asid),
    ]
    return sme_enable, tsme, cbit_position
