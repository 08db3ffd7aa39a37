"""cocotb-side models of Amaranth streams: a `StreamDriver` that feeds an ``In(stream.Signature)``
port with idle cycles, a `StreamMonitor` that drains an ``Out`` port with backpressure, a
`Scoreboard` of expected beats and the `TB` that holds them with the clock and reset, in the style
of cocotbext-axi's testbenches. Payloads are packed and unpacked only through the port's
``data.Layout``. See ``sim/cosim/README.md``.
"""

__all__ = [
    "TB",
    "Scoreboard",
    "StreamDriver",
    "StreamMonitor",
    "describe_stall_pattern",
    "port_layout",
    "stall_pattern",
]

import collections
import itertools
import random
from collections.abc import Iterable, Mapping

import cocotb
from amaranth.lib import data
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time


def port_layout(component, port):
    """Return the payload ``data.Layout`` of the stream member ``port`` of an Amaranth component.

    Raises
    ------
    TypeError
        If the member has no payload or its payload is not a ``data.Layout`` (a plain shape would
        need hand-packed bits, which the project does not allow).
    """
    interface = getattr(component, port)
    shape = interface.payload.shape()
    if not isinstance(shape, data.Layout):
        raise TypeError(f"stream {port!r} must carry a data.Layout payload, not {shape!r}")
    return shape


def stall_pattern(spec, *, rng=None):
    """Turn a JSON-friendly stall description into an endless iterator of booleans (True = stall).

    Parameters
    ----------
    spec : None, float, sequence of bool/int, or mapping
        ``None`` or ``0``: never stall. A float ``p`` in (0, 1]: stall each cycle with probability
        ``p``. A sequence such as ``[0, 0, 1]``: stall where it holds 1, repeated forever.
        ``{"random": p}`` is the same as ``p``; ``{"cycle": [...]}`` the same as the sequence.
    rng : random.Random, optional
        The generator for random patterns; a fresh one seeded from Python's `random` (which cocotb
        seeds with ``COCOTB_RANDOM_SEED``) by default, so a run reproduces with its seed.

    Raises
    ------
    ValueError
        If ``spec`` is none of the above.
    """
    if isinstance(spec, Mapping):
        if set(spec) == {"random"}:
            spec = float(spec["random"])
        elif set(spec) == {"cycle"}:
            spec = list(spec["cycle"])
        else:
            raise ValueError(f"stall pattern must have one key, 'random' or 'cycle', not {spec!r}")
    if spec is None or spec is False or spec == 0:
        return itertools.repeat(False)
    if isinstance(spec, float):
        if not 0 < spec <= 1:
            raise ValueError(f"stall probability must be in (0, 1], not {spec!r}")
        rng = rng or random.Random(random.getrandbits(64))
        return (rng.random() < spec for _ in itertools.count())
    if isinstance(spec, Iterable) and not isinstance(spec, (str, bytes)):
        pattern = [bool(stall) for stall in spec]
        if not pattern:
            raise ValueError("stall pattern sequence must not be empty")
        return itertools.cycle(pattern)
    raise ValueError(f"stall pattern must be None, a probability, a sequence or a mapping, not {spec!r}")


def describe_stall_pattern(spec):
    """Return a short name for a stall description, for test names and logs."""
    if isinstance(spec, Mapping):
        spec = spec.get("random", spec.get("cycle"))
    if spec is None or spec is False or spec == 0:
        return "none"
    if isinstance(spec, float):
        return f"random{round(spec * 100)}%"
    return "cycle" + "".join("1" if stall else "0" for stall in spec)


def _signal(dut, name, *, width=None):
    try:
        handle = getattr(dut, name)
    except AttributeError:
        raise AttributeError(f"{dut._name} has no signal {name!r}") from None
    if width is not None and len(handle) != width:
        raise ValueError(f"{name} is {len(handle)} bits wide, but its layout is {width} bits")
    return handle


def _high(handle, what):
    value = handle.value
    if not value.is_resolvable:
        raise AssertionError(f"{handle._name} is {value} ({what})")
    # A 1-bit port reads as a Logic, which converts to bool once resolvable.
    return bool(value)


class _StreamPort:
    def __init__(self, dut, port, layout, *, clock, reset):
        if not isinstance(layout, data.Layout):
            raise TypeError(f"stream {port!r} payload must be a data.Layout, not {layout!r}")
        self.name = port
        self.layout = layout
        self.clock = clock
        self.reset = reset
        self.valid = _signal(dut, f"{port}__valid")
        self.ready = _signal(dut, f"{port}__ready")
        # Amaranth leaves a zero-width payload out of the Verilog entirely.
        self.payload = _signal(dut, f"{port}__payload", width=layout.size) if layout.size else None
        self.count = 0
        self._task = None

    def _in_reset(self):
        return self.reset is not None and str(self.reset.value) == "1"

    def start(self):
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None


class StreamDriver(_StreamPort):
    """Feed the Amaranth stream port ``port`` (an ``In`` member of the DUT) with payloads.

    Beats are presented at the falling clock edge and count as accepted when ``valid & ready`` holds
    once everything has settled (cocotb's ReadOnly phase), i.e. at the next rising edge. Before each
    new beat the idle pattern may hold ``valid`` low for a cycle; once raised, ``valid`` stays high
    with a stable payload until the beat is accepted (the stream rules).

    Parameters
    ----------
    dut : cocotb handle
        The top level; its ``<port>__valid``, ``<port>__ready`` and ``<port>__payload`` are used.
    port : str
        The stream member's name, e.g. ``"i"``.
    layout : amaranth.lib.data.Layout
        The payload layout (`port_layout` of the Amaranth component).
    clock : cocotb handle
    reset : cocotb handle, optional
        While it is high, ``valid`` is held low and nothing is sent.
    idle : stall description, optional
        See `stall_pattern`; ``None`` sends back to back.
    """

    def __init__(self, dut, port, layout, *, clock, reset=None, idle=None):
        super().__init__(dut, port, layout, clock=clock, reset=reset)
        self._queue = collections.deque()
        self.set_idle(idle)
        self.valid.value = 0

    def set_idle(self, idle):
        """Replace the idle pattern (see `stall_pattern`)."""
        self._idle = stall_pattern(idle)

    def _pack(self, payload):
        if isinstance(payload, data.Const):
            if payload.shape() != self.layout:
                raise TypeError(f"payload {payload!r} does not have the layout {self.layout!r} of {self.name!r}")
            return payload.as_value().value
        return self.layout.const(payload).as_value().value

    def send_nowait(self, payload):
        """Queue one beat: a mapping of field values or a ``data.Const`` of the port's layout."""
        self._queue.append(self._pack(payload))
        self.start()

    @property
    def pending(self):
        """Beats queued or being presented, not yet accepted."""
        return len(self._queue)

    async def _run(self):
        falling = FallingEdge(self.clock)
        read_only = ReadOnly()
        presenting = valid = False
        while True:
            await falling
            if self._in_reset():
                presenting = False
            elif not presenting and self._queue and not next(self._idle):
                if self.payload is not None:
                    self.payload.value = self._queue[0]
                presenting = True
            if presenting != valid:
                self.valid.value = int(presenting)
                valid = presenting
            if not presenting:
                continue
            await read_only
            if _high(self.ready, f"ready of {self.name!r} while valid"):
                self._queue.popleft()
                self.count += 1
                presenting = False


class StreamMonitor(_StreamPort):
    """Drain the Amaranth stream port ``port`` (an ``Out`` member of the DUT), with backpressure.

    ``ready`` is set at the falling clock edge from the backpressure pattern; a beat is taken when
    ``valid & ready`` holds in the settled (ReadOnly) state before the rising edge and unpacked with
    ``layout.from_bits``.

    Parameters
    ----------
    dut, port, layout, clock, reset :
        As for `StreamDriver`.
    backpressure : stall description, optional
        See `stall_pattern`; ``None`` keeps ``ready`` high.
    """

    def __init__(self, dut, port, layout, *, clock, reset=None, backpressure=None):
        super().__init__(dut, port, layout, clock=clock, reset=reset)
        self._queue = collections.deque()
        self.set_backpressure(backpressure)
        self.ready.value = 0
        self.start()

    def set_backpressure(self, backpressure):
        """Replace the backpressure pattern (see `stall_pattern`)."""
        self._backpressure = stall_pattern(backpressure)

    def recv_nowait(self):
        """Return the oldest received beat as a ``data.Const``; raise IndexError if there is none."""
        return self._queue.popleft()

    @property
    def received(self):
        """Beats received and not yet taken."""
        return len(self._queue)

    async def _run(self):
        falling = FallingEdge(self.clock)
        read_only = ReadOnly()
        driven = False
        while True:
            await falling
            ready = not self._in_reset() and not next(self._backpressure)
            if ready != driven:
                self.ready.value = int(ready)
                driven = ready
            if not ready:
                continue
            await read_only
            if _high(self.valid, f"valid of {self.name!r}"):
                raw = 0
                if self.payload is not None:
                    value = self.payload.value
                    # to_unsigned() parses the whole string at once and refuses X/Z; asking
                    # is_resolvable first would build a Logic object per bit (~100 us a beat).
                    try:
                        raw = value.to_unsigned()
                    except ValueError:
                        raise AssertionError(f"{self.payload._name} is {value} while valid") from None
                self._queue.append(self.layout.from_bits(raw))
                self.count += 1


class Scoreboard:
    """Expected beats of one output stream, compared in order with what arrives.

    Parameters
    ----------
    layout : amaranth.lib.data.Layout
        The payload layout of the stream the beats come from.
    """

    def __init__(self, layout):
        self.layout = layout
        self._expected = collections.deque()
        self.checked = 0

    def expect(self, payload, label=None):
        """Queue one expected beat (field mapping or ``data.Const``) with a label for messages."""
        if not isinstance(payload, data.Const):
            payload = self.layout.const(payload)
        self._expected.append((payload, label))

    @property
    def outstanding(self):
        return len(self._expected)

    def _describe(self, value):
        fields = []
        for name, _ in self.layout:
            field = value[name]
            if isinstance(field, data.Const):
                field = field.as_value().value
            fields.append(f"{name}={field:#x}" if isinstance(field, int) else f"{name}={field!r}")
        return ", ".join(fields)

    def check(self, received):
        """Compare ``received`` with the oldest expected beat.

        Raises
        ------
        AssertionError
            If nothing was expected, or the beat differs (the message names the differing fields).
        """
        if not self._expected:
            raise AssertionError(
                f"unexpected beat #{self.checked}: {self._describe(received)} (nothing more expected)"
            )
        expected, label = self._expected.popleft()
        index = self.checked
        self.checked += 1
        if received != expected:
            differing = [
                name for name, _ in self.layout if received[name] != expected[name]
            ]
            raise AssertionError(
                f"beat #{index}{f' ({label})' if label else ''}: fields {', '.join(differing)} differ\n"
                f"  actual:   {self._describe(received)}\n"
                f"  expected: {self._describe(expected)}"
            )


class TB:
    """One testbench for a DUT with one input and one output stream (cocotbext-axi style).

    Holds the clock, the reset, a `StreamDriver` on ``sink``, a `StreamMonitor` on ``source`` and
    a `Scoreboard` of expected output beats. A test calls `start`, then `send` (request and
    expected response) any number of times, then `finish`, which fails unless every expected beat
    arrived and matched within the cycle budget and all queues are empty.

    Parameters
    ----------
    dut : cocotb handle
    component : amaranth.lib.wiring.Component
        The Amaranth design the Verilog came from (constructed with the same parameters); the
        payload layouts are taken from its signature.
    sink, source : str
        The input and output stream members (``"i"`` and ``"o"`` by default).
    idle, backpressure : stall descriptions
        See `stall_pattern`.
    clock, reset : str
        Signal names (Amaranth's ``sync`` domain gives ``clk`` and ``rst``).
    period_ns : int
    """

    def __init__(self, dut, component, *, sink="i", source="o", idle=None, backpressure=None,
                 clock="clk", reset="rst", period_ns=10):
        # Here the component only describes the ports (the Verilog came from another instance);
        # without this Amaranth warns at exit that it was never elaborated.
        component._MustUse__silence = True
        self.dut = dut
        self.log = dut._log
        self.period_ns = period_ns
        self.clock = _signal(dut, clock)
        self.reset = _signal(dut, reset) if reset is not None else None
        self.driver = StreamDriver(dut, sink, port_layout(component, sink), clock=self.clock,
                                   reset=self.reset, idle=idle)
        self.monitor = StreamMonitor(dut, source, port_layout(component, source), clock=self.clock,
                                     reset=self.reset, backpressure=backpressure)
        self.scoreboard = Scoreboard(self.monitor.layout)
        self._clock_started = False

    @property
    def cycle(self):
        """Clock cycles since time 0."""
        return int(get_sim_time("ns") // self.period_ns)

    async def start(self, *, reset_cycles=2):
        """Start the clock (once) and hold reset for ``reset_cycles`` rising edges."""
        if not self._clock_started:
            Clock(self.clock, self.period_ns, unit="ns").start()
            self._clock_started = True
        if self.reset is not None:
            await FallingEdge(self.clock)
            self.reset.value = 1
            await ClockCycles(self.clock, reset_cycles)
            await FallingEdge(self.clock)
            self.reset.value = 0
        await RisingEdge(self.clock)

    def send(self, request, response, label=None):
        """Queue one input beat and the output beat it must produce."""
        self.driver.send_nowait(request)
        self.scoreboard.expect(response, label)

    def _check_received(self):
        while self.monitor.received:
            self.scoreboard.check(self.monitor.recv_nowait())

    async def finish(self, *, timeout_cycles, settle_cycles=16):
        """Wait for every expected beat, check each, then check that nothing more arrives.

        Parameters
        ----------
        timeout_cycles : int
            Cycles to wait, from now, for all expected beats.
        settle_cycles : int
            Cycles to keep watching for extra beats afterwards.

        Returns
        -------
        int
            The number of beats checked.

        Raises
        ------
        AssertionError
            On a mismatch, an unexpected beat, a timeout (with counts of what is missing), or
            non-empty queues at the end.
        """
        rising = RisingEdge(self.clock)
        for _ in range(timeout_cycles):
            self._check_received()
            if not self.scoreboard.outstanding:
                break
            await rising
        else:
            self._check_received()
        if self.scoreboard.outstanding:
            raise AssertionError(
                f"timed out after {timeout_cycles} cycles: received {self.scoreboard.checked} of "
                f"{self.scoreboard.checked + self.scoreboard.outstanding} expected beats; the "
                f"driver still holds {self.driver.pending} unsent beats"
            )
        for _ in range(settle_cycles):
            await rising
            self._check_received()
        if self.driver.pending or self.monitor.received or self.scoreboard.outstanding:
            raise AssertionError(
                f"queues not empty at the end: driver {self.driver.pending}, monitor "
                f"{self.monitor.received}, scoreboard {self.scoreboard.outstanding}"
            )
        return self.scoreboard.checked
