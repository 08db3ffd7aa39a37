"""The memory encryption unit: C-bit mux, key slots, XTS with the line address as tweak.

See ``rtl/meu/README.md`` for the structure, the ordering rules and the numbers.
"""

from amaranth.hdl import Signal, Module, Cat, C, Mux, Shape
from amaranth.lib import wiring, data
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.utils import ceil_log2

from ..csr import CSRBank
from ..keyslots import KeySlotTable
from ..layouts import AXIBurst
from .ciphers import CIPHERS, CLIENTS
from .contract import build_secure_port, check_unit_parameters, unit_signature
from .layouts import (Kind, Port, Source, admitted_layout, b_token_layout, line_layout,
                      read_token_layout, write_command_layout)
from .regmap import COUNTERS, MEU_WINDOW, meu_registers
from .write_path import build_write_path
from .read_path import build_read_path

__all__ = ["MemoryEncryptionUnit"]

BEAT_BYTES = 16
LINE_BEATS = 4


class MemoryEncryptionUnit(wiring.Component):
    """Encrypts and decrypts 64-byte lines between an AXI4 host port and an AXI4 DRAM port.

    Parameters
    ----------
    key_bits : 128 or 256
    slots : int
        Key slots = ASIDs ``0 .. slots - 1``.
    engine : "pipelined" or "compact"
    address_width : int
        Physical address bits on the host, privileged and DRAM ports.
    cbit_position : int
        Reset value of CONFIG.cbit_position.
    id_width : int
        AXI ID bits of the host and privileged ports.
    min_sev_asid : int
        Reported in CPUID_EDX.
    max_reads, max_writes : int
        Requests of each kind in flight at once (the depth of the unit's queues).
    rom_styles : dict or None
        Pipelined engine only: where each cipher client's S-box ROMs go, e.g.
        ``{"encrypt": "block", "decrypt": "block", "tweak.key": "logic"}``
        (``rtl/meu/ciphers.py``).
    tweak_engines : int or None
        Pipelined engine only: compute tweaks on that many compact engines instead of a
        pipeline (``rtl/meu/ciphers.py``).

    Members
    -------
    host : In(axi4_signature(...))
        Cores and caches: the ASID in ``aruser``/``awuser``, the C-bit in the address.
    priv : In(axi4_signature(...))
        The secure processor's memory port (same rules; it may use any ASID).
    dram : Out(axi4_signature(...))
        Whole-line bursts, C-bit removed from the address.
    csr : In(csr_bus_signature(...))
        The secure port: unit registers and the key-slot table.
    """

    #: The AES engines it can be built with (``engine``).
    engines = tuple(CIPHERS)

    def __init__(self, *, key_bits=128, slots=16, engine="pipelined", address_width=48,
                 cbit_position=47, id_width=4, min_sev_asid=1, max_reads=16, max_writes=16,
                 rom_styles=None, tweak_engines=None):
        if engine not in CIPHERS:
            raise ValueError(f"Engine must be one of {sorted(CIPHERS)}, not {engine!r}")
        check_unit_parameters(address_width=address_width, cbit_position=cbit_position)
        for name, value in (("max_reads", max_reads), ("max_writes", max_writes)):
            if not isinstance(value, int) or not 2 <= value <= 64:
                raise ValueError(f"{name} must be an integer in 2..64, not {value!r}")
        if (rom_styles or tweak_engines is not None) and engine != "pipelined":
            raise ValueError("rom_styles and tweak_engines shape the pipelined engine, not the compact one")
        self._rom_styles = rom_styles
        self._tweak_engines = tweak_engines
        self._key_bits = key_bits
        self._slots = slots
        self._engine = engine
        self._address_width = address_width
        self._cbit_position = cbit_position
        self._id_width = id_width
        self._min_sev_asid = min_sev_asid
        self._max_reads = max_reads
        self._max_writes = max_writes
        self._asid_width = max(1, ceil_log2(slots))
        # The tweak client carries the line's data key to the path that will use it: key1 for a
        # write, key1's decryption key for a read; or, to slotted ciphers (the pipelines read
        # key1's round keys from tables the key table fills), the slot of both.
        slotted = CIPHERS[engine].slotted
        self._cipher_tags = {
            "tweak": data.StructLayout({"write": 1, **({"slot": range(slots)} if slotted else {"key": key_bits})}),
            "encrypt": data.StructLayout({"tweak": 128}),
            "decrypt": data.StructLayout({"tweak": 128, "resp": 2}),
        }
        options = {"tweak_depth": max_reads + max_writes}
        if slotted:
            options.update(slots=slots, rom_styles=rom_styles, tweak_engines=tweak_engines)
        self._ciphers = CIPHERS[engine](key_bits=key_bits, tag_shapes=self._cipher_tags, **options)
        self._keyslots = KeySlotTable(key_bits=key_bits, slots=slots, read_ports=1, round_keys=slotted)
        self._bank = CSRBank(meu_registers(cbit_position=cbit_position), address_width=MEU_WINDOW[1])
        super().__init__(unit_signature(address_width=address_width, id_width=id_width,
                                        asid_width=self._asid_width))

    key_bits = property(lambda self: self._key_bits)
    slots = property(lambda self: self._slots)
    engine = property(lambda self: self._engine)
    address_width = property(lambda self: self._address_width)
    asid_width = property(lambda self: self._asid_width)
    id_width = property(lambda self: self._id_width)
    register_map = property(lambda self: self._bank.register_map)
    keyslots = property(lambda self: self._keyslots)
    ciphers = property(lambda self: self._ciphers, doc="The cipher clients (for white-box tests).")

    def elaborate(self, platform):
        m = Module()
        ctx = _Context(self, m)
        ctx.build_csr()
        ctx.build_ciphers()
        ctx.build_admission()
        build_read_path(ctx)
        build_write_path(ctx)
        ctx.build_quiesce()
        ctx.build_counters()
        return m


class _Context:
    """The signals the unit's parts share while it is being elaborated."""

    def __init__(self, unit, m):
        self.unit = unit
        self.m = m
        self.slot_bits = max(1, ceil_log2(unit._slots))
        self.admitted = admitted_layout(id_width=unit._id_width, address_width=unit._address_width,
                                        slot_bits=self.slot_bits)
        self.read_token = read_token_layout(id_width=unit._id_width)
        self.write_command = write_command_layout(id_width=unit._id_width,
                                                  address_width=unit._address_width,
                                                  slot_bits=self.slot_bits)
        self.decision = data.StructLayout({"admitted": self.admitted, "bad_burst": 1, "no_key": 1})
        self.line = line_layout(address_width=unit._address_width, slot_bits=self.slot_bits)
        self.b_token = b_token_layout(id_width=unit._id_width)
        self.reads_in_flight = Signal(range(unit._max_reads + 1))
        self.writes_in_flight = Signal(range(unit._max_writes + 1))
        self.read_done = Signal()       # a read's last response beat left this cycle
        self.write_done = Signal()      # a write's response left this cycle
        # The dispatcher's read-modify-write read, offered to the admission arbiter.
        self.rmw_valid = Signal()
        self.rmw_ready = Signal()
        self.rmw_line = Signal(unit._address_width - 6)
        self.rmw_slot = Signal(self.slot_bits)
        self._events = {name: [] for name in COUNTERS}

    # Helpers ---------------------------------------------------------------------------------
    def fifo(self, name, shape, depth, *, block_ram=False):
        """A first-word-fall-through FIFO; its words are views when ``shape`` is a layout.

        ``block_ram``: a buffered FIFO, whose storage has a synchronous read port and so maps to
        FPGA block RAM (an unbuffered one reads asynchronously: flip-flops on iCE40). It costs a
        cycle from write to read; use it where that cycle is not on a latency that counts. Up to
        two entries it is not worth it, and its one-entry memory would have a zero-width address,
        which the Verilog export writes as ``[-1:0]`` and Verilator refuses: flip-flops then.
        """
        width = shape.size if isinstance(shape, data.Layout) else Shape.cast(shape).width
        fifo = (SyncFIFOBuffered if block_ram and depth > 2 else SyncFIFO)(width=width, depth=depth)
        self.m.submodules[name] = fifo
        if isinstance(shape, data.Layout):
            return fifo, data.View(shape, fifo.w_data), data.View(shape, fifo.r_data)
        return fifo, fifo.w_data, fifo.r_data

    def event(self, name):
        """A new one-cycle event for counter ``name``; events of one cycle all count."""
        signal = Signal(name=f"event_{name.lower()}_{len(self._events[name])}")
        self._events[name].append(signal)
        return signal

    def field(self, register, name):
        return self.unit._bank.field(register, name)

    # CSR -------------------------------------------------------------------------------------
    def build_csr(self):
        m, unit = self.m, self.unit
        self.keyslots = unit._keyslots
        self.sme_enable, self.tsme, self.cbit_position = build_secure_port(
            m, csr=unit.csr, bank=unit._bank, keyslots=unit._keyslots, slots=unit._slots,
            min_sev_asid=unit._min_sev_asid)

    # Ciphers ---------------------------------------------------------------------------------
    def build_ciphers(self):
        unit = self.unit
        self.data_key_field = "slot" if unit._ciphers.slotted else "key"
        self.tweak_tag, self.encrypt_tag, self.decrypt_tag = (unit._cipher_tags[name] for name in CLIENTS)
        self.ciphers = unit._ciphers
        self.m.submodules.ciphers = self.ciphers
        if unit._ciphers.slotted:
            wiring.connect(self.m, unit._keyslots.round_keys, self.ciphers.round_keys)

    def data_key(self, request, tweak_tag):
        """Hand a line's data key (or slot) from its tweak's tag to the cipher request that uses it."""
        return getattr(request, self.data_key_field).eq(getattr(tweak_tag, self.data_key_field))

    # Admission -------------------------------------------------------------------------------
    def build_admission(self):
        """One request a cycle, round-robin over host AR/AW, privileged AR/AW and RMW reads.

        Stage A decides (burst check, C-bit, slot, key valid, room) and starts the key read;
        stage B, a cycle later, has the key and hands the line to the tweak client, the read
        path or the write path. Stage B never waits: stage A admits only with room reserved.
        """
        m, unit = self.m, self.unit
        host, priv = unit.host, unit.priv
        requests = [
            (Source.HOST_AR, host.arvalid, host.arready, Port.HOST, 0, host.arid, host.araddr,
             host.arlen, host.arsize, host.arburst, host.aruser),
            (Source.HOST_AW, host.awvalid, host.awready, Port.HOST, 1, host.awid, host.awaddr,
             host.awlen, host.awsize, host.awburst, host.awuser),
            (Source.PRIV_AR, priv.arvalid, priv.arready, Port.PRIV, 0, priv.arid, priv.araddr,
             priv.arlen, priv.arsize, priv.arburst, priv.aruser),
            (Source.PRIV_AW, priv.awvalid, priv.awready, Port.PRIV, 1, priv.awid, priv.awaddr,
             priv.awlen, priv.awsize, priv.awburst, priv.awuser),
        ]
        read_room = Signal()
        write_room = Signal()
        hold = Signal()                 # a key-slot command waits for the unit to drain
        self.admission_hold = hold
        m.d.comb += [
            read_room.eq(self.reads_in_flight < unit._max_reads),
            write_room.eq(self.writes_in_flight < unit._max_writes),
        ]
        sources = len(requests) + 1
        eligible = Signal(sources)
        for source, valid, _, _, write, *_ in requests:
            m.d.comb += eligible[source].eq(valid & ~hold & (write_room if write else read_room))
        # A read-modify-write read belongs to a write already in flight: holding it for a
        # key-slot command would wait for that write to finish, which waits for this read.
        m.d.comb += eligible[Source.RMW].eq(self.rmw_valid & read_room)

        # Round-robin: after granting source n, source n + 1 has the highest priority.
        last = Signal(range(sources), init=sources - 1)
        grant = Signal(range(sources))
        for offset in reversed(range(sources)):
            for n in range(sources):
                candidate = (n + 1 + offset) % sources
                with m.If((last == n) & eligible[candidate]):
                    m.d.comb += grant.eq(candidate)
        admit = Signal()
        m.d.comb += admit.eq(eligible.any())
        with m.If(admit):
            m.d.sync += last.eq(grant)

        # Every source's request is decided at once, beside the arbiter (burst check, C-bit,
        # slot, key valid), and the grant picks a decision: on a large part the chain arbiter →
        # request fields → C-bit → slot → valid bit → kind was too long for one cycle.
        chosen = Signal(self.decision)
        for source, _, ready, port_value, write_value, ident, address, length, size, burst, asid in requests:
            decision = self._decide(f"source_{source.name.lower()}", port_value, write_value, ident,
                                    address, length, size, burst, asid)
            with m.If(grant == source):
                m.d.comb += [chosen.eq(decision), ready.eq(admit)]
        # A read-modify-write reads a whole line that arrives already routed: C=1, its write's slot.
        rmw = self._decide("source_rmw", Port.RMW, 0, 0, Cat(C(0, 6), self.rmw_line), LINE_BEATS - 1,
                           4, AXIBurst.INCR, 0, routed_slot=self.rmw_slot)
        with m.If(grant == Source.RMW):
            m.d.comb += [chosen.eq(rmw), self.rmw_ready.eq(admit)]
        m.d.comb += [
            self.event("ERR_BAD_BURST").eq(admit & chosen.bad_burst),
            self.event("ERR_NO_KEY").eq(admit & chosen.no_key),
        ]

        # The key is read once, at admission; the line carries it to the cipher that uses it.
        key_read = self.keyslots.key_read[0]
        m.d.comb += [key_read.addr.eq(chosen.admitted.slot), key_read.en.eq(admit)]

        # Stage B.
        stage_b = Signal(self.admitted)
        stage_b_valid = Signal()
        m.d.sync += stage_b_valid.eq(admit)
        with m.If(admit):
            m.d.sync += stage_b.eq(chosen.admitted)
        self.stage_b = stage_b
        self.stage_b_valid = stage_b_valid
        write = chosen.admitted.write
        with m.If(admit & ~write):
            m.d.sync += self.reads_in_flight.eq(self.reads_in_flight + 1 - self.read_done)
        with m.Else():
            m.d.sync += self.reads_in_flight.eq(self.reads_in_flight - self.read_done)
        with m.If(admit & write):
            m.d.sync += self.writes_in_flight.eq(self.writes_in_flight + 1 - self.write_done)
        with m.Else():
            m.d.sync += self.writes_in_flight.eq(self.writes_in_flight - self.write_done)

        key = key_read.data
        tweak = self.ciphers.tweak
        m.d.comb += [
            tweak.i.valid.eq(stage_b_valid & (stage_b.kind == Kind.CIPHER)),
            tweak.i.payload.block.eq(Cat(C(0, 6), stage_b.line)),
            tweak.i.payload.key.eq(key.key2),
            tweak.i.payload.tag.write.eq(stage_b.write),
        ]
        if self.data_key_field == "slot":
            m.d.comb += tweak.i.payload.tag.slot.eq(stage_b.slot)
        else:
            m.d.comb += tweak.i.payload.tag.key.eq(Mux(stage_b.write, key.key1, key.key1_decrypt))

    def _decide(self, name, port, write, ident, address, length, size, burst, asid, *, routed_slot=None):
        """The admission decision for one source's request, as a ``self.decision`` signal.

        ``routed_slot``: the request is the unit's own read-modify-write read, already routed
        (C=1, that slot, ``address`` already a DRAM address).
        """
        m, unit = self.m, self.unit
        decision = Signal(self.decision, name=f"{name}_decision")
        first = address[4:6]
        burst_ok = Signal(name=f"{name}_burst_ok")
        # Full-width (16-byte) beats inside one line. An unaligned start address is legal AXI:
        # its first beat is still the whole beat, with the master's strobes marking the bytes.
        m.d.comb += burst_ok.eq(
            (size == 4) & ((burst == AXIBurst.INCR) | (length == 0))
            & (first + length <= LINE_BEATS - 1))
        # The C-bit (only with SME enabled) selects slot[ASID] and leaves the DRAM address.
        # SEC_CM: MEU.TSME.NO_PLAINTEXT
        # Under TSME every other line uses slot 0, so no line reaches DRAM in plaintext.
        cbit = Signal(name=f"{name}_cbit")
        needs_key = Signal(name=f"{name}_needs_key")
        slot = Signal(self.slot_bits, name=f"{name}_slot")
        dram_address = Signal(unit._address_width, name=f"{name}_dram_address")
        if routed_slot is None:
            m.d.comb += [
                cbit.eq(self.sme_enable & address.bit_select(self.cbit_position, 1)),
                dram_address.eq(address & ~(cbit.as_unsigned() << self.cbit_position)),
                needs_key.eq(cbit | self.tsme),
                slot.eq(Mux(cbit, asid, 0)),
            ]
        else:
            m.d.comb += [needs_key.eq(1), slot.eq(routed_slot), dram_address.eq(address)]
        slot_valid = Signal(name=f"{name}_slot_valid")
        m.d.comb += slot_valid.eq((slot < unit._slots) & self.keyslots.valid.bit_select(slot, 1))
        kind = decision.admitted.kind
        # SEC_CM: MEU.ASID.NO_KEY
        # A line that needs a key its slot does not hold is refused here: it never reaches DRAM,
        # and its response carries no DRAM data.
        with m.If(~burst_ok):
            m.d.comb += kind.eq(Kind.ERROR)
        with m.Elif(needs_key & ~slot_valid):
            m.d.comb += kind.eq(Kind.ERROR)
        with m.Elif(needs_key):
            m.d.comb += kind.eq(Kind.CIPHER)
        with m.Else():
            m.d.comb += kind.eq(Kind.BYPASS)
        admitted = decision.admitted
        m.d.comb += [
            admitted.port.eq(port), admitted.write.eq(write), admitted.id.eq(ident),
            admitted.first.eq(first), admitted.len.eq(length), admitted.line.eq(dram_address[6:]),
            admitted.slot.eq(slot),
            decision.bad_burst.eq(~burst_ok),
            decision.no_key.eq(burst_ok & needs_key & ~slot_valid),
        ]
        return decision

    def build_counters(self):
        self.unit._bank.count_events(self.m, self._events)

    def build_quiesce(self):
        m = self.m
        idle = Signal()
        request = self.keyslots.quiesce_request
        # The grant is a register: idle under the hold stays idle (nothing is admitted, the
        # in-flight counts only fall), so a cycle's lag changes nothing, and the in-flight
        # counters and the admission stage reach no key-table logic in the cycle (on the ULX3S
        # that path, into the staged key words' clear, was critical at 50 MHz).
        idle_under_hold = Signal()
        m.d.sync += idle_under_hold.eq(request & idle)
        m.d.comb += [
            idle.eq((self.reads_in_flight == 0) & (self.writes_in_flight == 0) & ~self.stage_b_valid),
            self.admission_hold.eq(request),
            # SEC_CM: KEYSLOTS.SLOT.ATOMIC_UPDATE
            # A slot changes only while nothing is in flight and nothing is admitted.
            self.keyslots.quiesce_grant.eq(request & idle_under_hold),
            self.field("STATUS", "idle").r_data.eq(idle),
            self.field("STATUS", "key_update").r_data.eq(self.keyslots.quiesce_request),
        ]

