"""The serial bridge: frames of bytes in (``protocol.py``), bus transactions on the memory
system's ports out, and the answers back. See ``rtl/bridge/README.md``."""

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..csr import csr_bus_signature
from ..layouts import AXIBurst, axi4_signature
from .protocol import (HEADER_BYTES, MEMORY_PORTS, MEMORY_READS, MEMORY_WRITES, REGISTER_READS,
                       REGISTER_WRITES, REQUEST, RESPONSE, UNKNOWN_OP, Op)

__all__ = ["SerialBridge"]

_BEAT_BYTES = 18                    # strobes (2) and data (16) of one written beat
_REQUEST_BYTES = HEADER_BYTES + 4 * _BEAT_BYTES


class SerialBridge(wiring.Component):
    """One request at a time: collect its bytes, run it on the bus it names, send the answer.

    Parameters
    ----------
    address_width, id_width, asid_width : int
        The memory system's AXI ports (the bridge uses ID 0).
    secure_address_width, maint_address_width : int
        Its secure port and its cores' maintenance bus.

    Members
    -------
    rx : In(stream.Signature(8))
        Request bytes (from the UART receiver); taken at once, one a cycle.
    tx : Out(stream.Signature(8))
        Response bytes (to the UART transmitter).
    host, priv : Out(axi4_signature(...))
        The memory system's cores' port and secure processor's port.
    dram : Out(axi4_signature(...))
        The memory behind the unit, directly (no user signals, ID width 1).
    csr, maint : Out(csr_bus_signature(...))
        The secure port and the cores' maintenance bus.
    """

    def __init__(self, *, address_width=48, id_width=4, asid_width=4, secure_address_width=7,
                 maint_address_width=4):
        port = axi4_signature(address_width=address_width, id_width=id_width, user_width=asid_width)
        self._address_width = address_width
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "host": Out(port),
            "priv": Out(port),
            "dram": Out(axi4_signature(address_width=address_width, id_width=1)),
            "csr": Out(csr_bus_signature(secure_address_width)),
            "maint": Out(csr_bus_signature(maint_address_width)),
        })

    def elaborate(self, platform):
        m = Module()
        rx, tx = self.rx, self.tx

        op = Signal(8)
        request = Signal(8 * _REQUEST_BYTES)        # the bytes after op, in order
        count = Signal(range(_REQUEST_BYTES + 1))
        length = Signal(range(_REQUEST_BYTES + 1))
        beat = Signal(3)
        status = Signal(8)
        payload = Signal(512)                       # the response's data, sent low byte first
        payload_left = Signal(range(65))
        cycles = Signal(64)
        m.d.sync += cycles.eq(cycles + 1)

        address = request[:self._address_width]
        asid = request[48:56]
        beats = request[56:59]
        register = request[:8]
        word = request[8:40]
        is_priv = op[7]

        def op_in(ops):
            return Cat(*(op == int(o) for o in ops)).any()

        ports = [getattr(self, name) for name in MEMORY_PORTS]
        target = Signal(range(len(ports)))      # the port a memory op runs on
        m.d.comb += target.eq(Mux(op_in((Op.DRAM_READ, Op.DRAM_WRITE)), 2, is_priv))

        # Every port carries the request; only the one the op names sees a valid.
        for port in ports:
            m.d.comb += [
                port.araddr.eq(address), port.arlen.eq(beats - 1), port.arsize.eq(4),
                port.arburst.eq(AXIBurst.INCR), port.arid.eq(0),
                port.awaddr.eq(address), port.awlen.eq(beats - 1), port.awsize.eq(4),
                port.awburst.eq(AXIBurst.INCR), port.awid.eq(0),
            ]
            if hasattr(port, "aruser"):
                m.d.comb += [port.aruser.eq(asid), port.awuser.eq(asid)]
        # Beat k's strobes and data sit at a fixed offset: HEADER_BYTES + 18 k.
        beat_strobes = Signal(16)
        beat_data = Signal(128)
        with m.Switch(beat):
            for k in range(4):
                with m.Case(k):
                    base = 8 * (HEADER_BYTES + _BEAT_BYTES * k)
                    m.d.comb += [beat_strobes.eq(request[base:base + 16]),
                                 beat_data.eq(request[base + 16:base + 144])]
        for port in ports:
            m.d.comb += [port.wdata.eq(beat_data), port.wstrb.eq(beat_strobes),
                         port.wlast.eq(beat == beats - 1)]
        selected = {name: Array(getattr(port, name) for port in ports)[target]
                    for name in ("arready", "awready", "wready", "rvalid", "rdata", "rresp", "rlast",
                                 "bvalid", "bresp")}

        def drive(name):
            """Assert the handshake signal ``name`` on the port the op names."""
            m.d.comb += [getattr(port, name).eq(target == index) for index, port in enumerate(ports)]

        m.d.comb += [self.csr.addr.eq(register), self.csr.w_data.eq(word),
                     self.maint.addr.eq(register), self.maint.w_data.eq(word)]

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid & (rx.payload == REQUEST)):
                    m.next = "OP"

            with m.State("OP"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [op.eq(rx.payload), count.eq(0), beat.eq(0), status.eq(0)]
                    with m.Switch(rx.payload):
                        with m.Case(*(int(o) for o in MEMORY_READS + MEMORY_WRITES)):
                            m.d.sync += length.eq(HEADER_BYTES)
                            m.next = "FIELDS"
                        with m.Case(*(int(o) for o in REGISTER_READS)):
                            m.d.sync += length.eq(1)
                            m.next = "FIELDS"
                        with m.Case(*(int(o) for o in REGISTER_WRITES)):
                            m.d.sync += length.eq(5)
                            m.next = "FIELDS"
                        with m.Case(int(Op.CYCLES)):
                            m.d.sync += [payload.eq(cycles), payload_left.eq(8)]
                            m.next = "RESPOND"
                        with m.Default():
                            m.d.sync += [status.eq(UNKNOWN_OP), payload_left.eq(0)]
                            m.next = "RESPOND"

            with m.State("FIELDS"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [request.word_select(count, 8).eq(rx.payload), count.eq(count + 1)]
                    with m.If((count == HEADER_BYTES - 1) & op_in(MEMORY_WRITES)):
                        # The beats byte: the write's beats follow.
                        m.d.sync += length.eq(HEADER_BYTES + _BEAT_BYTES * rx.payload[:3])
                    header_of_write = (count == HEADER_BYTES - 1) & op_in(MEMORY_WRITES)
                    with m.If((count == length - 1) & ~header_of_write):
                        with m.If(op_in(MEMORY_READS)):
                            m.next = "READ_ADDRESS"
                        with m.Elif(op_in(MEMORY_WRITES)):
                            m.next = "WRITE_ADDRESS"
                        with m.Else():
                            m.next = "REGISTER"
                    with m.If((count == HEADER_BYTES - 1) & op_in(MEMORY_READS + MEMORY_WRITES)
                              & ((rx.payload[:3] == 0) | (rx.payload > 4))):
                        # Not 1..4 beats: no bus request; SLVERR, as the cache answers a bad burst.
                        m.d.sync += [status.eq(2), payload_left.eq(0)]
                        m.next = "RESPOND"

            for state, valid, ready, then in (("READ_ADDRESS", "arvalid", "arready", "READ_DATA"),
                                              ("WRITE_ADDRESS", "awvalid", "awready", "WRITE_DATA")):
                with m.State(state):
                    drive(valid)
                    with m.If(selected[ready]):
                        m.next = then

            with m.State("READ_DATA"):
                drive("rready")
                with m.If(selected["rvalid"]):
                    m.d.sync += [payload.word_select(beat, 128).eq(selected["rdata"]), beat.eq(beat + 1)]
                    with m.If(selected["rresp"] != 0):
                        m.d.sync += status.eq(selected["rresp"])
                    with m.If(selected["rlast"]):
                        m.d.sync += payload_left.eq(Cat(C(0, 4), beats))      # 16 × beats
                        m.next = "RESPOND"

            with m.State("WRITE_DATA"):
                drive("wvalid")
                with m.If(selected["wready"]):
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(beat == beats - 1):
                        m.next = "WRITE_RESPONSE"

            with m.State("WRITE_RESPONSE"):
                drive("bready")
                with m.If(selected["bvalid"]):
                    m.d.sync += [status.eq(selected["bresp"]), payload_left.eq(0)]
                    m.next = "RESPOND"

            with m.State("REGISTER"):
                # The secure port for the secure processor's class, the maintenance bus else.
                reading = op_in(REGISTER_READS)
                m.d.comb += [self.csr.r_stb.eq(reading & is_priv), self.csr.w_stb.eq(~reading & is_priv),
                             self.maint.r_stb.eq(reading & ~is_priv), self.maint.w_stb.eq(~reading & ~is_priv)]
                with m.If(reading):
                    m.next = "REGISTER_DATA"
                with m.Else():
                    m.d.sync += payload_left.eq(0)
                    m.next = "RESPOND"

            with m.State("REGISTER_DATA"):
                m.d.sync += [payload.eq(Mux(is_priv, self.csr.r_data, self.maint.r_data)), payload_left.eq(4)]
                m.next = "RESPOND"

            with m.State("RESPOND"):
                m.d.sync += count.eq(0)
                m.next = "SEND_HEADER"

            with m.State("SEND_HEADER"):
                m.d.comb += tx.valid.eq(1)
                with m.Switch(count):
                    with m.Case(0):
                        m.d.comb += tx.payload.eq(RESPONSE)
                    with m.Case(1):
                        m.d.comb += tx.payload.eq(op)
                    with m.Default():
                        m.d.comb += tx.payload.eq(status)
                with m.If(tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 2):
                        m.next = "SEND_DATA"

            with m.State("SEND_DATA"):
                m.d.comb += [tx.valid.eq(payload_left != 0), tx.payload.eq(payload[:8])]
                with m.If(payload_left == 0):
                    m.next = "SYNC"
                with m.Elif(tx.ready):
                    m.d.sync += [payload.eq(payload[8:]), payload_left.eq(payload_left - 1)]
        return m
