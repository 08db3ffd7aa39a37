"""The memory encryption unit's registers. See ``rtl/meu/README.md``.

The unit's CSR bus has two windows: these registers at word 0x00 and the key-slot table's
(``rtl/keyslots/regmap.py``) at word 0x20.
"""

from ..csr import Access, Field, Register, RegisterMap, event_counters

__all__ = ["MEU_REGISTERS", "KEYSLOT_WINDOW", "MEU_WINDOW", "CSR_ADDRESS_WIDTH", "COUNTERS"]

#: (base word address, address bits) of each window on the unit's CSR bus.
MEU_WINDOW = (0x00, 5)
KEYSLOT_WINDOW = (0x20, 5)
CSR_ADDRESS_WIDTH = 6

#: Event counters: register name -> what it counts.
COUNTERS = {
    "ERR_NO_KEY": "C=1 (or TSME) requests refused because their slot holds no key",
    "ERR_BAD_BURST": "requests refused because the burst is not 16-byte beats inside one line",
    "LINES_ENCRYPTED": "lines encrypted toward DRAM (full writes and read-modify-writes)",
    "LINES_DECRYPTED": "lines decrypted from DRAM (reads and the read half of read-modify-writes)",
    "LINES_BYPASSED": "lines read or written without the cipher",
}


def meu_registers(*, cbit_position=47):
    return RegisterMap("meu", [
        Register("CONFIG", 0x00, (
            Field("sme_enable", 1, Access.RW,
                  "SYSCFG MemEncryptionModEn: the C-bit selects encryption (else it is an address bit)"),
            Field("tsme", 1, Access.RW, "transparent SME: lines that would bypass use slot 0"),
            Field("cbit_position", 6, Access.RW, "physical-address bit that is the C-bit", reset=cbit_position),
            Field("lock", 1, Access.RW, "1 freezes CONFIG until reset (the boot firmware sets it)"),
        # SEC_CM: MEU.CONFIG.LOCK
        # Once locked (by the boot firmware), no write changes the mode or the C-bit position.
        ), "Unit configuration. Change it only while STATUS.idle is 1.", lockable=True),
        Register("STATUS", 0x01, (
            Field("idle", 1, Access.R, "no request is in flight"),
            Field("key_update", 1, Access.R, "admission is held for a key-slot command"),
        ), "Unit status."),
        Register("CPUID_EAX", 0x04, (
            Field("sme", 1, Access.R, "SME supported (1)"),
            Field("sev", 1, Access.R, "SEV supported (1)"),
        ), "Like CPUID Fn8000_001F EAX."),
        Register("CPUID_EBX", 0x05, (
            Field("cbit_position", 6, Access.R, "C-bit position (CONFIG.cbit_position)"),
            Field("pa_reduction", 6, Access.R, "physical-address bits lost when encryption is on (1: the C-bit)"),
        ), "Like CPUID Fn8000_001F EBX."),
        Register("CPUID_ECX", 0x06, (
            Field("asids", 16, Access.R, "encrypted guests supported at once = highest SEV ASID (slots - 1)"),
        ), "Like CPUID Fn8000_001F ECX."),
        Register("CPUID_EDX", 0x07, (
            Field("min_sev_asid", 16, Access.R, "lowest ASID for a plain (non-ES) SEV guest"),
        ), "Like CPUID Fn8000_001F EDX."),
        *event_counters(COUNTERS, base=0x08, clear_address=0x0F),
    ])


MEU_REGISTERS = meu_registers()
