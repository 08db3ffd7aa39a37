"""The serial bridge: frames of bytes in (``protocol.py``), bus transactions on the memory
system's ports out, and the answers back. See ``rtl/bridge/README.md``."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..csr import csr_bus_signature
from ..layouts import AXIBurst, axi4_signature
from .protocol import (HEADER_BYTES, MEMORY_PORTS, MEMORY_READS, MEMORY_WRITES, REGISTER_READS,
                       REGISTER_WRITES, REQUEST, RESPONSE, UNKNOWN_OP, Op)

__all__ = ["SerialBridge"]

#: One written beat as a request carries it: its strobes, then its data (little-endian).
_WrittenBeat = data.StructLayout({"strobes": 16, "data": 128})
_BEAT_BYTES = _WrittenBeat.size // 8
_DATA_BYTES = 16                    # of a read beat
_REQUEST_BYTES = HEADER_BYTES + 4 * _BEAT_BYTES
#: What a request's first bytes after op hold: a burst's header, or a register op's fields.
_Fields = data.UnionLayout({
    "burst": data.StructLayout({"address": 48, "asid": 8, "beats": 8}),
    "register": data.StructLayout({"address": 8, "word": 32}),
})


class SerialBridge(wiring.Component):
    """One request at a time: collect its bytes, run it on the bus it names, send the answer.

    The request's bytes and the response's data pass through a byte-wide block RAM; a
    burst moves between it and the bus one beat at a time, through one beat register.

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

        # The request's bytes after op as they arrive, then the response's data: a block RAM,
        # where a register of them would take a logic cell a bit on an iCE40.
        m.submodules.frame_buffer = frame_buffer = Memory(shape=8, depth=_REQUEST_BYTES, init=[])
        write = frame_buffer.write_port()
        read = frame_buffer.read_port()
        pointer = Signal(range(_REQUEST_BYTES + 1))     # the frame buffer's byte moved next
        next_pointer = Signal.like(pointer)
        # The read port is addressed with the pointer's next value, so that its data, a cycle
        # later, is always the byte at the pointer.
        m.d.comb += [next_pointer.eq(pointer), read.addr.eq(next_pointer), write.addr.eq(pointer)]
        m.d.sync += pointer.eq(next_pointer)

        op = Signal(8)
        fields = Signal(_Fields)
        # The beat on W; or a caught R beat, a register's word, the cycle count on their way
        # to the frame buffer.
        beat_register = Signal(_WrittenBeat)
        count = Signal(range(_BEAT_BYTES))      # bytes to move after this one; response header bytes sent
        length = Signal(range(_REQUEST_BYTES + 1))  # the request's bytes after op, then the response's data
        beat = Signal(3)
        last = Signal()                         # the R beat being stored is the burst's last
        status = Signal(8)
        cycles = Signal(64)
        m.d.sync += cycles.eq(cycles + 1)

        address = fields.burst.address
        asid = fields.burst.asid
        beats = fields.burst.beats[:3]          # 1..4, checked as it arrives
        is_priv = op[7]

        # Bytes leave the beat register at the bottom and enter at the top: filled in the
        # request's order, emptied data byte 0 first.
        beat_bits = beat_register.as_value()
        shift = beat_bits.eq(Cat(beat_bits[8:], read.data))

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
                port.wdata.eq(beat_register.data), port.wstrb.eq(beat_register.strobes),
                port.wlast.eq(beat == beats - 1),
            ]
            if hasattr(port, "aruser"):
                m.d.comb += [port.aruser.eq(asid), port.awuser.eq(asid)]
        selected = {name: Array(getattr(port, name) for port in ports)[target]
                    for name in ("arready", "awready", "wready", "rvalid", "rdata", "rresp", "rlast",
                                 "bvalid", "bresp")}

        def drive(name):
            """Assert the handshake signal ``name`` on the port the op names."""
            m.d.comb += [getattr(port, name).eq(target == index) for index, port in enumerate(ports)]

        register, word = fields.register.address, fields.register.word
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
                    m.d.sync += [op.eq(rx.payload), beat.eq(0), status.eq(0)]
                    m.d.comb += next_pointer.eq(0)
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
                            m.d.sync += [beat_register.data[:64].eq(cycles), count.eq(len(cycles) // 8 - 1)]
                            m.next = "STORE"
                        with m.Default():
                            m.d.sync += [status.eq(UNKNOWN_OP), length.eq(0)]
                            m.next = "RESPOND"

            with m.State("FIELDS"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.comb += [write.en.eq(1), write.data.eq(rx.payload), next_pointer.eq(pointer + 1)]
                    with m.If(pointer < HEADER_BYTES):
                        m.d.sync += fields.as_value().word_select(pointer[:3], 8).eq(rx.payload)
                    header_of_write = (pointer == HEADER_BYTES - 1) & op_in(MEMORY_WRITES)
                    with m.If(header_of_write):
                        # The beats byte: the write's beats follow, 18 bytes each (16 + 2: shifts
                        # and an add, where a product would take a multiplier).
                        beats_byte = rx.payload[:3]
                        m.d.sync += length.eq(HEADER_BYTES + (beats_byte << 4) + (beats_byte << 1))
                    with m.If((pointer == length - 1) & ~header_of_write):
                        # A read's data and a register's word are stored from the frame
                        # buffer's start; a write's beats are loaded from after its header.
                        m.d.comb += next_pointer.eq(0)
                        with m.If(op_in(MEMORY_READS)):
                            m.next = "READ_ADDRESS"
                        with m.Elif(op_in(MEMORY_WRITES)):
                            m.d.comb += next_pointer.eq(HEADER_BYTES)
                            m.d.sync += count.eq(_BEAT_BYTES - 1)
                            m.next = "WRITE_ADDRESS"
                        with m.Else():
                            m.next = "REGISTER"
                    with m.If((pointer == HEADER_BYTES - 1) & op_in(MEMORY_READS + MEMORY_WRITES)
                              & ((rx.payload[:3] == 0) | (rx.payload > 4))):
                        # Not 1..4 beats: no bus request; SLVERR, as the cache answers a bad burst.
                        m.d.sync += [status.eq(2), length.eq(0)]
                        m.next = "RESPOND"

            for state, valid, ready, then in (("READ_ADDRESS", "arvalid", "arready", "READ_DATA"),
                                              ("WRITE_ADDRESS", "awvalid", "awready", "LOAD")):
                with m.State(state):
                    drive(valid)
                    with m.If(selected[ready]):
                        m.next = then

            with m.State("READ_DATA"):
                drive("rready")
                with m.If(selected["rvalid"]):
                    m.d.sync += [beat_register.data.eq(selected["rdata"]), last.eq(selected["rlast"]),
                                 count.eq(_DATA_BYTES - 1)]
                    with m.If(selected["rresp"] > status):      # the worst of the beats
                        m.d.sync += status.eq(selected["rresp"])
                    m.next = "STORE"

            with m.State("STORE"):
                # The beat register's data, a byte a cycle, to the frame buffer; rready stays low
                # meanwhile (the link is far slower than these cycles).
                m.d.comb += [write.en.eq(1), write.data.eq(beat_register.data[:8]),
                             next_pointer.eq(pointer + 1)]
                m.d.sync += [shift, count.eq(count - 1)]
                with m.If(count == 0):
                    with m.If(op_in(MEMORY_READS) & ~last):
                        m.next = "READ_DATA"
                    with m.Else():
                        m.d.sync += length.eq(pointer + 1)
                        m.next = "RESPOND"

            with m.State("LOAD"):
                # The next written beat, a byte a cycle, from the frame buffer.
                m.d.comb += next_pointer.eq(pointer + 1)
                m.d.sync += [shift, count.eq(count - 1)]
                with m.If(count == 0):
                    m.next = "WRITE_DATA"

            with m.State("WRITE_DATA"):
                drive("wvalid")
                with m.If(selected["wready"]):
                    m.d.sync += [beat.eq(beat + 1), count.eq(_BEAT_BYTES - 1)]
                    with m.If(beat == beats - 1):
                        m.next = "WRITE_RESPONSE"
                    with m.Else():
                        m.next = "LOAD"

            with m.State("WRITE_RESPONSE"):
                drive("bready")
                with m.If(selected["bvalid"]):
                    m.d.sync += [status.eq(selected["bresp"]), length.eq(0)]
                    m.next = "RESPOND"

            with m.State("REGISTER"):
                # The secure port for the secure processor's class, the maintenance bus else.
                reading = op_in(REGISTER_READS)
                m.d.comb += [self.csr.r_stb.eq(reading & is_priv), self.csr.w_stb.eq(~reading & is_priv),
                             self.maint.r_stb.eq(reading & ~is_priv), self.maint.w_stb.eq(~reading & ~is_priv)]
                with m.If(reading):
                    m.next = "REGISTER_DATA"
                with m.Else():
                    m.d.sync += length.eq(0)
                    m.next = "RESPOND"

            with m.State("REGISTER_DATA"):
                r_data = Mux(is_priv, self.csr.r_data, self.maint.r_data)
                m.d.sync += [beat_register.data[:len(r_data)].eq(r_data), count.eq(len(r_data) // 8 - 1)]
                m.next = "STORE"

            with m.State("RESPOND"):
                m.d.sync += count.eq(0)
                m.d.comb += next_pointer.eq(0)          # the response's data: from the buffer's start
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
                m.d.comb += [tx.valid.eq(pointer != length), tx.payload.eq(read.data)]
                with m.If(pointer == length):
                    m.next = "SYNC"
                with m.Elif(tx.ready):
                    m.d.comb += next_pointer.eq(pointer + 1)
        return m
