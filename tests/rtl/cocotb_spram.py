"""cocotb test of the iCE40 SPRAM's instances (``rtl/bram/spram.py`` built for the iCEBreaker)
with Yosys's SB_SPRAM256KA cell model. Run by ``test_bram.py``, never collected by pytest. Its
parameters: ``script``, each cycle's ``[select, write_enable, address, write_mask, write_data]``,
and ``expected``, ``read_data`` after that cycle's clock edge (null where the part leaves it
undefined: not compared)."""

__all__ = []

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sevlab.sim.cosim import testbench_params

INPUTS = ("select", "write_enable", "address", "write_mask", "write_data")


@cocotb.test()
async def the_script(dut):
    params = testbench_params()
    script, expected = params["script"], params["expected"]
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 0
    compared = 0
    for n, (cycle, want) in enumerate(zip(script, expected, strict=True)):
        await FallingEdge(dut.clk)
        for name, value in zip(INPUTS, cycle, strict=True):
            getattr(dut, name).value = value
        await RisingEdge(dut.clk)
        await ReadOnly()
        if want is not None:
            got = dut.read_data.value
            assert got.is_resolvable and int(got) == want, f"cycle {n} {cycle}: read_data {got}, expected {want:#018x}"
            compared += 1
    assert compared == sum(want is not None for want in expected) > 100, f"{compared} cycles compared"
