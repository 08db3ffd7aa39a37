"""Board tops: the bridged memory system behind a UART on the ULX3S-85F and the iCEBreaker.
See ``rtl/boards/README.md``."""

from dataclasses import dataclass
from typing import Callable

from ..memsys.system import UNITS
from .icebreaker import ICEBREAKER_SYSTEM, ICEBreakerTop
from .system import BridgedSystem
from .top import STATUS_LEDS, BoardTop
from .ulx3s import ULX3S_SYSTEM, ULX3STop

__all__ = ["BOARDS", "Board", "BoardTop", "BridgedSystem", "ICEBreakerTop", "STATUS_LEDS", "ULX3STop"]


@dataclass(frozen=True)
class Board:
    """A board we build for: its amaranth-boards platform, its top, and the memory system the
    top holds unless told otherwise."""
    name: str
    family: str                 # "ecp5" or "ice40"
    platform: Callable          # () -> an amaranth-boards platform
    top: Callable               # (**system_parameters) -> the top
    system: dict                # the top's default memory-system parameters
    programmer: str             # how docs/fpga.md programs it

    @property
    def engine(self):
        return self.system["engine"]

    def make_top(self, *, engine=None, **options):
        """The top with ``engine`` instead of the board's own (the pipelined engine's ROM
        placement is dropped with it)."""
        if engine is not None and engine != self.engine:
            # Checked before anything is built: a half-built top would warn that it went unused.
            unit = UNITS[self.system.get("unit", "standard")]
            if engine not in unit.engines:
                raise ValueError(f"its {unit.__name__} takes the {' or '.join(unit.engines)} engine, not {engine!r}")
            options = {"engine": engine, "rom_styles": None, "tweak_engines": None, **options}
        return self.top(**options)


def _ulx3s_85f():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


BOARDS = {
    "ulx3s-85f": Board("ulx3s-85f", "ecp5", _ulx3s_85f, ULX3STop, ULX3S_SYSTEM, "openFPGALoader --board ulx3s"),
    "icebreaker": Board("icebreaker", "ice40", _icebreaker, ICEBreakerTop, ICEBREAKER_SYSTEM, "iceprog"),
}
