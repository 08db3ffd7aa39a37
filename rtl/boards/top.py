"""What every board top holds: the UART and the bridged system, and LEDs that show the link's
state. A board's module (``ulx3s.py``, ``icebreaker.py``) adds its clock and its parameters.
See ``rtl/boards/README.md``."""

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io, wiring

from ..uart import UARTReceiver, UARTTransmitter, divisor_for
from .system import BridgedSystem

__all__ = ["BoardTop", "STATUS_LEDS"]

#: What each status LED shows, in the order a board's LEDs take them.
STATUS_LEDS = ("heartbeat", "receiving", "sending", "link_error", "clock_locked")


class BoardTop(Elaboratable):
    """The UART on the board's ``uart`` 0, the bridged system behind it, and status LEDs.

    Parameters
    ----------
    clock_hz : float
        The ``sync`` domain's frequency (the UART divisor comes from it).
    baud : int
    leds : sequence of str
        A name from :data:`STATUS_LEDS` for each of the board's ``led`` resources to drive.
    **system_parameters
        Passed to :class:`BridgedSystem` (``memory_bytes``, ``memory_row_bytes``, the memory
        system's parameters).
    """

    def __init__(self, *, clock_hz, baud, leds, **system_parameters):
        if unknown := set(leds) - set(STATUS_LEDS):
            raise ValueError(f"unknown status LEDs {sorted(unknown)}; they are {STATUS_LEDS}")
        self.clock_hz = clock_hz
        self.baud = baud
        self.divisor = divisor_for(clock_hz, baud)
        self.leds = tuple(leds)
        self.system = BridgedSystem(**system_parameters)
        self.clock_locked = Signal(init=1)      # a board with a PLL drives it from the PLL's lock
        #: What each LED shows (:data:`STATUS_LEDS`); the board's LEDs are driven from these.
        self.status = {name: Signal(name=f"status_{name}") for name in STATUS_LEDS}
        # The UART's lines: the board's pins, or (without a platform) the simulation's.
        self.rx_line = Signal(init=1)
        self.tx_line = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        m.submodules.receiver = receiver = UARTReceiver(self.divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        wiring.connect(m, receiver.data, system.rx)
        wiring.connect(m, system.tx, transmitter.data)
        m.d.comb += [receiver.rx.eq(self.rx_line), self.tx_line.eq(transmitter.tx)]
        if platform is not None:
            uart = platform.request("uart", 0, dir="-")
            m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
            m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
            m.d.comb += [self.rx_line.eq(rx_pin.i), tx_pin.o.eq(self.tx_line)]

        # An LED lit for one cycle is invisible: stretch each event to ~1/20 s.
        stretch = int(self.clock_hz // 20)
        status = self.status
        m.d.comb += status["clock_locked"].eq(self.clock_locked)
        for name, event in (("receiving", receiver.data.valid & receiver.data.ready),
                            ("sending", transmitter.data.valid & transmitter.data.ready)):
            left = Signal(range(stretch + 1), name=f"{name}_left")
            with m.If(event):
                m.d.sync += left.eq(stretch)
            with m.Elif(left != 0):
                m.d.sync += left.eq(left - 1)
            m.d.comb += status[name].eq(left != 0)
        # The heartbeat blinks at ~1 Hz: the clock runs and the design is out of reset.
        beat = Signal(range(int(self.clock_hz)))
        m.d.sync += beat.eq(beat + 1)
        with m.If(beat == int(self.clock_hz // 2) - 1):
            m.d.sync += [beat.eq(0), status["heartbeat"].eq(~status["heartbeat"])]
        # Lit from the first dropped byte (framing error or overrun) until reset.
        with m.If((receiver.framing_errors != 0) | (receiver.overruns != 0)):
            m.d.sync += status["link_error"].eq(1)
        if platform is not None:
            for index, name in enumerate(self.leds):
                m.submodules[f"led_{index}"] = led = io.Buffer("o", platform.request("led", index, dir="-"))
                m.d.comb += led.o.eq(status[name])
        return m
