"""An ECP5 EHXPLLL that makes one clock from another, its dividers found by search."""

from amaranth.hdl import Elaboratable, Instance, Module, Signal

__all__ = ["ECP5PLL", "pll_dividers"]

# The LFE5U data sheet's PLL limits (DS1044, "sysCLOCK PLL Timing").
_VCO_HZ = (400e6, 800e6)
_PFD_HZ = (3.125e6, 400e6)


def pll_dividers(input_hz, output_hz):
    """``(CLKI_DIV, CLKFB_DIV, CLKOP_DIV)`` making exactly ``output_hz`` from ``input_hz`` with
    CLKOP fed back (``output = input * CLKFB_DIV / CLKI_DIV``, VCO = output * CLKOP_DIV), the VCO
    nearest the middle of its range; ValueError when no exact setting exists."""
    best = None
    for clki in range(1, 129):
        if not _PFD_HZ[0] <= input_hz / clki <= _PFD_HZ[1]:
            continue
        for clkfb in range(1, 81):
            if abs(input_hz * clkfb / clki - output_hz) > 1e-3:
                continue
            for clkop in range(1, 129):
                vco = output_hz * clkop
                if _VCO_HZ[0] <= vco <= _VCO_HZ[1]:
                    score = abs(vco - sum(_VCO_HZ) / 2)
                    if best is None or score < best[0]:
                        best = (score, (clki, clkfb, clkop))
    if best is None:
        raise ValueError(f"an ECP5 PLL cannot make {output_hz / 1e6:g} MHz from {input_hz / 1e6:g} MHz exactly")
    return best[1]


class ECP5PLL(Elaboratable):
    """``clk_out`` at ``output_hz`` from ``clk_in``; ``locked`` is the PLL's LOCK output."""

    def __init__(self, *, input_hz, output_hz):
        self.dividers = pll_dividers(input_hz, output_hz)
        self.input_hz, self.output_hz = input_hz, output_hz
        self.clk_in = Signal()
        self.clk_out = Signal()
        self.locked = Signal()

    def elaborate(self, platform):
        clki, clkfb, clkop = self.dividers
        m = Module()
        m.submodules.pll = Instance(
            "EHXPLLL",
            # The loop-filter settings Lattice's tools and ecppll give every PLL; the
            # frequencies document it for tools that read them.
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            a_FREQUENCY_PIN_CLKI=f"{self.input_hz / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{self.output_hz / 1e6:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_FEEDBK_PATH="CLKOP",
            p_CLKI_DIV=clki, p_CLKFB_DIV=clkfb, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=clkop,
            # Phase: CLKOP's edge half a VCO period early; no I/O here is timed against clk_in.
            p_CLKOP_CPHASE=(clkop - 1) // 2, p_CLKOP_FPHASE=0,
            i_CLKI=self.clk_in, i_CLKFB=self.clk_out, o_CLKOP=self.clk_out, o_LOCK=self.locked,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0,
            i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0,
        )
        return m
