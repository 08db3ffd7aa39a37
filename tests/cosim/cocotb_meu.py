"""cocotb tests of the memory system's Verilog that the machine API cannot express: bursts the
unit (or the cache in front of it) refuses, issued raw with cocotbext-axi's AxiMaster. Run by
``test_meu_cosim.py``."""

import cocotb
from cocotbext.axi import AxiBurstType

from sevlab.rtl.cache import CACHE_REGISTERS, CacheOp
from sevlab.rtl.keyslots import KEYSLOT_REGISTERS
from sevlab.rtl.meu import KEYSLOT_WINDOW, MEU_REGISTERS
from sevlab.sim.cosim.machine import start_system
from sevlab.sim.cosim.runner import testbench_params

SLVERR = 2
OKAY = 0


@cocotb.test()
async def refused_bursts(dut):
    """Narrow, line-crossing and multi-beat FIXED bursts get SLVERR and change nothing."""
    params = testbench_params()
    tb = await start_system(dut, params["address_width"])
    host = tb.masters["host"]
    tb.ram.write(0x1000, bytes(range(128)))

    narrow = await host.read(0x1000, 16, size=2)                    # 4-byte beats
    crossing_read = await host.read(0x1030, 32)                     # beats 3 of one line, 0 of the next
    crossing_write = await host.write(0x1030, b"\xEE" * 32)
    fixed = await host.read(0x1000, 32, burst=AxiBurstType.FIXED)   # two beats, one address
    good = await host.read(0x1040, 16)

    for name, response in (("narrow", narrow), ("line-crossing read", crossing_read),
                           ("line-crossing write", crossing_write), ("FIXED burst", fixed)):
        assert response.resp == SLVERR, f"{name}: response {response.resp}, expected SLVERR"
    assert narrow.data == bytes(len(narrow.data)), "a refused read returns zeros"
    assert good.resp == OKAY and bytes(good.data) == bytes(range(64, 80))
    if params["cache_bytes"]:
        # Whatever the cache holds goes to DRAM now.
        await tb.csr_write(CACHE_REGISTERS["COMMAND"].address, CacheOp.WBINVD, bus="maint")
        for _ in range(10_000):
            if not await tb.csr_read(CACHE_REGISTERS["STATUS"].address, bus="maint"):
                break
        else:
            raise AssertionError("WBINVD did not finish in 10,000 polls")
    assert bytes(tb.ram.read(0x1000, 128)) == bytes(range(128)), "a refused write reached DRAM"
    bad_bursts = await tb.csr_read(MEU_REGISTERS["ERR_BAD_BURST"].address)
    # With a cache, the cache refuses them: the unit never sees them.
    expected = 0 if params["cache_bytes"] else 4
    assert bad_bursts == expected, f"ERR_BAD_BURST is {bad_bursts}, expected {expected}"
    # The key slots' window answers too (nothing installed: slot 0 not valid).
    await tb.csr_write(KEYSLOT_WINDOW[0] + KEYSLOT_REGISTERS["KEY_SLOT"].address, 0)
    status = KEYSLOT_REGISTERS["KEY_STATUS"].decode(
        await tb.csr_read(KEYSLOT_WINDOW[0] + KEYSLOT_REGISTERS["KEY_STATUS"].address))
    assert status == {"busy": 0, "slot_valid": 0, "error": 0}, status
