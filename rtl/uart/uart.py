"""A UART: 8 data bits, no parity, one stop bit (8N1), a fixed number of clock cycles per bit.

The board tops' link to the host (``rtl/bridge``). Bytes go in and out as Amaranth streams; see
``rtl/uart/README.md``.
"""

from amaranth.hdl import Cat, Module, Signal, C
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTReceiver", "UARTTransmitter", "divisor_for"]


def divisor_for(clock_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clock_hz``; ValueError if the rate error would
    exceed 2 % (a receiver samples mid-bit, so the error may build up to half a bit over the ten
    bits of a frame: 5 %, halved for the other end's error)."""
    divisor = round(clock_hz / baud)
    if divisor < 2 or abs(clock_hz / divisor - baud) / baud > 0.02:
        raise ValueError(f"{baud} baud cannot be made from {clock_hz} Hz within 2 % (divisor {divisor})")
    return divisor


def _checked(divisor):
    if divisor < 2:
        raise ValueError(f"divisor must be at least 2, not {divisor!r}")
    return divisor


class UARTTransmitter(wiring.Component):
    """Sends each byte of ``data`` on ``tx``: a start bit (0), the bits LSB first, a stop bit (1).
    ``tx`` idles high.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 2).
    """

    def __init__(self, divisor):
        self._divisor = _checked(divisor)
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10, init=0x3FF)      # stop bit, data, start bit, sent LSB first
        bits_left = Signal(range(11))
        count = Signal(range(self._divisor))
        # Ready when idle, or in the last cycle of a stop bit: bytes in a row leave no gap.
        m.d.comb += [self.tx.eq(shift[0]),
                     self.data.ready.eq((bits_left == 0) | ((bits_left == 1) & (count == 0)))]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shift.eq(Cat(C(0, 1), self.data.payload, C(1, 1))), bits_left.eq(10),
                         count.eq(self._divisor - 1)]
        with m.Elif(bits_left != 0):
            with m.If(count == 0):
                m.d.sync += [shift.eq(Cat(shift[1:], C(1, 1))), bits_left.eq(bits_left - 1),
                             count.eq(self._divisor - 1)]
            with m.Else():
                m.d.sync += count.eq(count - 1)
        return m


class UARTReceiver(wiring.Component):
    """Receives bytes on ``rx`` (synchronised to the clock first) and offers each on ``data``.

    A frame is sampled in the middle of each bit. A byte whose stop bit is 0 is dropped and
    counted in ``framing_errors``; a byte that arrives while the previous one is still waiting
    in ``data`` is dropped and counted in ``overruns`` (the bridge always takes bytes at once).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 2).
    """

    def __init__(self, divisor):
        self._divisor = _checked(divisor)
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)),
                          "framing_errors": Out(16), "overruns": Out(16)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        count = Signal(range(self._divisor + self._divisor // 2))
        bits = Signal(range(10))
        shift = Signal(8)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # From the start bit's edge to the middle of the first data bit.
                    m.d.sync += [count.eq(self._divisor + self._divisor // 2 - 1), bits.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                with m.If(count == 0):
                    m.d.sync += count.eq(self._divisor - 1)
                    with m.If(bits == 8):
                        # The stop bit's middle: straight back to IDLE, which is watching for the
                        # next start bit half a bit from now (a cycle lost here is a cycle late
                        # in every sample of the next frame).
                        m.next = "IDLE"
                        with m.If(~rx):
                            m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                            m.next = "STOP"
                        with m.Elif(self.data.valid & ~self.data.ready):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                        with m.Else():
                            m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                    with m.Else():
                        m.d.sync += [shift.eq(Cat(shift[1:], rx)), bits.eq(bits + 1)]
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("STOP"):
                # A stop bit that was low: wait for the line to be high again (a break, noise).
                with m.If(rx):
                    m.next = "IDLE"
        return m
