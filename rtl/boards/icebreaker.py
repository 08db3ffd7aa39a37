"""The iCEBreaker top: the small unit on the narrow AES engine in front of the iCE40UP5K's SPRAM,
at the board's 12 MHz."""

from .top import BoardTop

__all__ = ["ICEBreakerTop", "ICEBREAKER_SYSTEM"]

OSCILLATOR_HZ = 12e6

#: The memory system on the iCE40UP5K (5,280 logic cells, 30 EBR of 4 kbit, 4 SPRAM of 256 kbit):
#: the small unit (``rtl/meu_small``: one request at a time, keys in block RAM) on the narrow AES
#: engine (``rtl/aes``: a 32-bit column a cycle), no cache, four key slots, and the 128 KiB of
#: SPRAM (four 16-bit blocks side by side, so 8-byte rows) as DRAM, instantiated: Yosys's
#: ``-spram`` did not map the rows to them (it chose 256 EBR; docs/fpga.md). The standard unit
#: with the compact engine needs four times the part; the small unit with it, 105 % of its
#: logic cells and 33 of its 30 EBR.
ICEBREAKER_SYSTEM = dict(
    unit="small", engine="narrow", key_bits=128, slots=4, address_width=24, cbit_position=23,
    cache_bytes=0, memory_bytes=131072, memory_row_bytes=8, memory_storage="ice40_spram",
)


class ICEBreakerTop(BoardTop):
    """:class:`BoardTop` on the 12 MHz oscillator (the platform's default clock and power-on
    reset); the red LED is a link error, the green one the heartbeat."""

    def __init__(self, *, clock_hz=OSCILLATOR_HZ, baud=1_000_000, **system_parameters):
        if clock_hz != OSCILLATOR_HZ:
            self._MustUse__silence = True       # refused, not forgotten: no "never used" warning
            raise ValueError(f"the iCEBreaker top runs at its oscillator's {OSCILLATOR_HZ / 1e6:g} MHz")
        super().__init__(clock_hz=clock_hz, baud=baud, leds=("link_error", "heartbeat"),
                         **(ICEBREAKER_SYSTEM | system_parameters))
