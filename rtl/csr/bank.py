"""The CSR bus, and the bank of registers generated from a :class:`RegisterMap`.

See ``rtl/csr/README.md`` for the bus timing.
"""

from amaranth.hdl import C, Signal, Module, Cat
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .registers import Access, DATA_WIDTH

__all__ = ["csr_bus_signature", "CSRBank", "CSRDecoder"]


def csr_bus_signature(address_width):
    """A word-addressed register bus, from the initiator's side.

    A write takes effect at the clock edge that ends the cycle of ``w_stb``; read data is on
    ``r_data`` in the cycle after ``r_stb``. Every access takes one cycle: there is no wait state.
    """
    return wiring.Signature({
        "addr": Out(address_width),
        "r_stb": Out(1),
        "r_data": In(DATA_WIDTH),
        "w_stb": Out(1),
        "w_data": Out(DATA_WIDTH),
    })


class _FieldPort:
    """The hardware side of one field: ``data`` (RW), ``r_data`` (R), or ``w_stb``/``w_data`` (W)."""

    def __init__(self, register, field):
        prefix = f"{register.name.lower()}_{field.name}"
        self.access = field.access
        if field.access is Access.RW:
            self.data = Signal(field.width, name=prefix, init=field.reset)
            # RW fields also strobe, for hardware that must act on a write (counter clears, say).
            self.w_stb = Signal(name=f"{prefix}_w_stb")
        elif field.access is Access.R:
            self.r_data = Signal(field.width, name=f"{prefix}_r_data")
        else:
            self.w_stb = Signal(name=f"{prefix}_w_stb")
            self.w_data = Signal(field.width, name=f"{prefix}_w_data")


class CSRBank(wiring.Component):
    """Address decoding and RW storage for every register of a map.

    ``bank.field("REG", "name")`` is the hardware side of a field (see :class:`_FieldPort`).

    Parameters
    ----------
    register_map : RegisterMap
    address_width : int, optional
        Word-address bits of the bus, if wider than the map needs (to fill a decoder window).

    Members
    -------
    bus : In(csr_bus_signature(address_width))
    """

    def __init__(self, register_map, *, address_width=None):
        if address_width is None:
            address_width = register_map.address_width
        if address_width < register_map.address_width:
            raise ValueError(f"{register_map.name} needs {register_map.address_width} address bits, "
                             f"not {address_width!r}")
        self._map = register_map
        self._ports = {r.name: {f.name: _FieldPort(r, f) for f in r.fields} for r in register_map}
        super().__init__({"bus": In(csr_bus_signature(address_width))})

    register_map = property(lambda self: self._map)

    def field(self, register, name):
        return self._ports[register][name]

    def count_events(self, m, events):
        """The hardware of :func:`~sevlab.rtl.csr.registers.event_counters`: ``events`` maps
        each counter's name to the one-cycle event signals it counts (all of a cycle count)."""
        clear = self.field("COUNTERS_CLEAR", "clear")
        for name, signals in events.items():
            # A cycle's events are registered before they are added: the signals come at the end
            # of the unit's handshake logic, and the counter's carry chain should not follow it.
            # A counter therefore shows an event two cycles after it (a clear drops the events
            # of the cycle before it, as it always dropped those of its own cycle).
            events_seen = Signal(range(len(signals) + 1), name=f"events_{name.lower()}")
            count = Signal(32, name=f"count_{name.lower()}")
            m.d.sync += events_seen.eq(sum(signals))
            m.d.comb += self.field(name, "count").r_data.eq(count)
            with m.If(clear.w_stb & clear.w_data):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + events_seen)

    def elaborate(self, platform):
        m = Module()
        # r_data is 0 except in the cycle after a read of a mapped register, so that a decoder
        # can OR the banks' outputs together.
        m.d.sync += self.bus.r_data.eq(0)
        for register in self._map:
            ports = self._ports[register.name]
            selected = self.bus.addr == register.address
            readback = []
            for f in register.fields:
                port = ports[f.name]
                low = register.offsets[f.name]
                written = self.bus.w_data[low:low + f.width]
                if f.access is Access.RW:
                    readback.append(port.data)
                elif f.access is Access.R:
                    readback.append(port.r_data)
                else:
                    readback.append(C(0, f.width))    # write-only: reads as zero
                if f.access is Access.R:
                    continue
                write = Signal(name=f"{register.name.lower()}_{f.name}_write")
                m.d.comb += write.eq(self.bus.w_stb & selected)
                if register.lockable:
                    m.d.comb += write.eq(self.bus.w_stb & selected & ~ports["lock"].data)
                m.d.comb += port.w_stb.eq(write)
                if f.access is Access.RW:
                    with m.If(write):
                        m.d.sync += port.data.eq(written)
                else:
                    m.d.comb += port.w_data.eq(written)
            with m.If(self.bus.r_stb & selected):
                m.d.sync += self.bus.r_data.eq(Cat(*readback))
        return m


class CSRDecoder(wiring.Component):
    """Routes one CSR bus to several, each at a base word address (a multiple of its size).

    Parameters
    ----------
    address_width : int
        Word-address bits of the upstream bus.
    windows : list of (base, address_width)
        One window per downstream bus, ``bus_<n>`` in that order.
    """

    def __init__(self, *, address_width, windows):
        self._windows = list(windows)
        for base, width in self._windows:
            if base % (1 << width):
                raise ValueError(f"CSR window base {base:#x} is not a multiple of its size {1 << width:#x}")
        members = {"bus": In(csr_bus_signature(address_width))}
        for index, (_, width) in enumerate(self._windows):
            members[f"bus_{index}"] = Out(csr_bus_signature(width))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        read_data = 0
        for index, (base, width) in enumerate(self._windows):
            bus = getattr(self, f"bus_{index}")
            selected = (self.bus.addr >> width) == (base >> width)
            m.d.comb += [
                bus.addr.eq(self.bus.addr[:width]),
                bus.w_data.eq(self.bus.w_data),
                bus.w_stb.eq(self.bus.w_stb & selected),
                bus.r_stb.eq(self.bus.r_stb & selected),
            ]
            # A bank returns 0 except in the cycle after it was read, so OR-ing is a mux.
            read_data = read_data | bus.r_data
        m.d.comb += self.bus.r_data.eq(read_data)
        return m
