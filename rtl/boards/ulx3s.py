"""The ULX3S-85F top: the pipelined unit at 50 MHz from the board's 25 MHz oscillator."""

from amaranth.hdl import ClockDomain
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from .ecp5_pll import ECP5PLL
from .top import STATUS_LEDS, BoardTop

__all__ = ["ULX3STop", "ULX3S_SYSTEM"]

OSCILLATOR_HZ = 25e6

#: The memory system on the LFE5U-85F (208 DP16KD block RAMs of 18 kbit, 83,640 LUT4). A tweak
#: is needed once a line, so three compact engines make the tweaks (0.3 a cycle, 60 S-box
#: lookups, in logic, ~200 LUT4 a lookup); the encrypt and decrypt pipelines' S-boxes take 160
#: DP16KD (a DP16KD serves two lookups a cycle) and their round keys come from LUT-RAM tables
#: the key table fills, which leaves 32 DP16KD for 64 KiB of DRAM: what the demo's host needs
#: (docs/fpga.md).
ULX3S_SYSTEM = dict(
    engine="pipelined", key_bits=128, slots=16, tweak_engines=3,
    rom_styles={"encrypt": "block", "decrypt": "block", "tweak": "logic"},
    address_width=48, cbit_position=47, max_reads=4, max_writes=4,
    cache_bytes=0, memory_bytes=65536, memory_row_bytes=16,
)


#: The unit's clock: nextpnr reports 50.7 MHz for it (commit d6b0127, seed 1; docs/fpga.md,
#: "What limits Fmax", has the builds and what stands in the way of 100 MHz). CI's extended tier
#: builds the bitstream and checks it (tests/sim/test_fpga_builds.py).
CLOCK_HZ = 50e6


class ULX3STop(BoardTop):
    """:class:`BoardTop` clocked by an ECP5 PLL at ``clock_hz``, held in reset until it locks;
    LEDs 0-4 show ``STATUS_LEDS`` (the board has eight)."""

    def __init__(self, *, clock_hz=CLOCK_HZ, baud=1_000_000, **system_parameters):
        super().__init__(clock_hz=clock_hz, baud=baud, leds=STATUS_LEDS, **(ULX3S_SYSTEM | system_parameters))
        self.pll = ECP5PLL(input_hz=OSCILLATOR_HZ, output_hz=clock_hz)

    def elaborate(self, platform):
        m = super().elaborate(platform)
        if platform is None:
            return m            # in simulation the simulator drives the sync clock
        m.submodules.pll = pll = self.pll
        m.domains.sync = sync = ClockDomain("sync")
        m.submodules.reset = ResetSynchronizer(~pll.locked, domain="sync")
        m.submodules.clk25 = clk25 = io.Buffer("i", platform.request("clk25", 0, dir="-"))
        m.d.comb += [sync.clk.eq(pll.clk_out), self.clock_locked.eq(pll.locked), pll.clk_in.eq(clk25.i)]
        platform.add_clock_constraint(sync.clk, self.clock_hz)
        return m
