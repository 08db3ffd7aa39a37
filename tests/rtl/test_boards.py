"""The board tops (rtl/boards): they elaborate for their platforms without FPGA tools (what
``sevlab synth --check`` does), the ECP5 PLL's dividers, and the status LEDs in simulation.
The serial path through a top's UART pins is in test_bridge.py; the bitstream builds are in
tests/sim/test_fpga_builds.py (extended)."""

import re

import pytest
from amaranth.hdl import Signal
from amaranth.sim import Simulator

from sevlab.rtl.boards import BOARDS, BoardTop, ICEBreakerTop, ulx3s
from sevlab.rtl.boards.ecp5_pll import pll_dividers
from sevlab.sim.cli import main


def test_sevlab_synth_check_elaborates_every_board_top_for_its_platform(tmp_path, capsys):
    assert main(["synth", "--check", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"{board}: elaborated" in out for board in BOARDS)
    lpf = (tmp_path / "ulx3s-85f" / "top.lpf").read_text()
    pcf = (tmp_path / "icebreaker" / "top.pcf").read_text()
    for constraints in (lpf, pcf):
        assert "uart_0__rx" in constraints and "uart_0__tx" in constraints and "led_1" in constraints
    # The ULX3S runs from its PLL: the PLL's output carries the top's clock, which nextpnr times.
    assert "FREQUENCY NET" in lpf and f"{ulx3s.CLOCK_HZ:.1f} HZ" in lpf
    assert "EHXPLLL" in (tmp_path / "ulx3s-85f" / "top.il").read_text()
    # The iCEBreaker's DRAM rows on the UP5K's four SPRAMs, instantiated (Yosys did not infer them).
    assert len(re.findall(r"cell \\SB_SPRAM256KA ", (tmp_path / "icebreaker" / "top.il").read_text())) == 4
    assert "SB_SPRAM256KA" not in (tmp_path / "ulx3s-85f" / "top.il").read_text()


def test_a_board_takes_the_other_engine():
    top = BOARDS["ulx3s-85f"].make_top(engine="compact")
    assert top.system.system.unit.engine == "compact"
    BOARDS["ulx3s-85f"].platform().build(top, do_build=False)


@pytest.mark.parametrize("output_mhz", [25, 40, 50, 60, 75, 100, 125])
def test_the_pll_makes_exactly_the_clock_asked_within_the_vco_range(output_mhz):
    clki, clkfb, clkop = pll_dividers(25e6, output_mhz * 1e6)
    assert 25e6 * clkfb / clki == output_mhz * 1e6
    assert 400e6 <= output_mhz * 1e6 * clkop <= 800e6          # LFE5U VCO range
    assert 3.125e6 <= 25e6 / clki                               # and its PFD's


def test_a_clock_the_pll_cannot_make_is_refused():
    with pytest.raises(ValueError, match="cannot make"):
        pll_dividers(25e6, 33.3e6)
    with pytest.raises(ValueError, match="12 MHz"):
        ICEBreakerTop(clock_hz=24e6)


def test_the_status_leds():
    # A slow clock so that the LEDs' times are short: 2 kHz, 500 baud (4 cycles a bit), an
    # event stretched to 100 cycles, the heartbeat toggling every 1000.
    top = BoardTop(clock_hz=2000, baud=500, leds=("heartbeat",), engine="compact", slots=2,
                   address_width=16, cbit_position=15, max_reads=2, max_writes=2, cache_bytes=0,
                   memory_bytes=1024)
    status = top.status
    seen = {}

    async def bench(ctx):
        cycles = 0

        async def wait(count):
            nonlocal cycles
            await ctx.tick().repeat(count)
            cycles += count

        async def send(byte, stop=1):
            for bit in [0, *((byte >> n) & 1 for n in range(8)), stop]:
                ctx.set(top.rx_line, bit)
                await wait(top.divisor)
            ctx.set(top.rx_line, 1)

        await wait(5)
        seen["start"] = {name: ctx.get(signal) for name, signal in status.items()}
        await send(0x00)                     # not a request's first byte: skipped, but received
        await wait(3)
        seen["received"] = ctx.get(status["receiving"])
        await wait(110)
        seen["faded"] = ctx.get(status["receiving"])
        await send(0x00, stop=0)             # a framing error
        await wait(20)
        seen["error"] = ctx.get(status["link_error"])
        while not ctx.get(status["heartbeat"]):
            await wait(1)
        seen["heartbeat_at"] = cycles

    sim = Simulator(top)
    sim.add_clock(1 / 2000)
    sim.add_testbench(bench)
    sim.run()
    assert seen["start"] == {"heartbeat": 0, "receiving": 0, "sending": 0, "link_error": 0, "clock_locked": 1}
    assert seen["received"] == 1 and seen["faded"] == 0
    assert seen["error"] == 1
    # The counter counts 0 .. 999, then the heartbeat register toggles: seen one cycle later.
    assert seen["heartbeat_at"] in (1000, 1001), seen["heartbeat_at"]


def test_a_board_refuses_an_engine_its_unit_lacks(capsys):
    # The ULX3S's standard unit has no narrow engine: one line, exit 2, no build started.
    assert main(["synth", "--board", "ulx3s-85f", "--engine", "narrow"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--engine narrow on ulx3s-85f" in err
