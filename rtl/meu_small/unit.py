"""The small memory encryption unit: the same contract as ``rtl/meu``, one request at a time,
a 16-byte block at a time, on one AES engine, with the keys in block RAM.

See ``rtl/meu_small/README.md`` for the sequence, the numbers and what it does not do.
"""

from amaranth.hdl import Signal, Module, Cat, C, Mux
from amaranth.lib import wiring
from amaranth.utils import ceil_log2

from ..aes import AESCompact, AESNarrow
from ..csr import CSRBank
from ..keyslots import KeySlotTable
from ..keyslots.table import KeyRow
from ..layouts import AXIBurst, AXIResp
from ..meu.contract import build_secure_port, check_unit_parameters, unit_signature
from ..meu.layouts import Kind
from ..meu.regmap import MEU_WINDOW, meu_registers
from ..xts.tweak import mul_alpha

__all__ = ["SmallEncryptionUnit", "ENGINES"]

LINE_BEATS = 4
FULL_BEAT = 0xFFFF

#: AES engines by name. Each has :class:`~sevlab.rtl.aes.AESCompact`'s interface and contract, in
#: particular that it takes a block in the cycle its previous result leaves (the
#: read-modify-write relies on it).
ENGINES = {"compact": AESCompact, "narrow": AESNarrow}


def _engine_class(engine):
    if isinstance(engine, type):
        return engine.__name__, engine
    if engine in ENGINES:
        return engine, ENGINES[engine]
    raise ValueError(f"Engine must be one of {sorted(ENGINES)} or an AES engine class, not {engine!r}"
                     " (the small unit runs on one iterative engine)")


class SmallEncryptionUnit(wiring.Component):
    """:class:`~sevlab.rtl.meu.MemoryEncryptionUnit`'s ports, registers and behaviour, built for
    area: one request at a time, one 16-byte block at a time, one AES engine for the tweak,
    decryption and encryption, and the key slots in block RAM.

    Parameters
    ----------
    key_bits : 128 or 256
    slots : int
        Key slots = ASIDs ``0 .. slots - 1``.
    engine : "compact", "narrow" or an AES engine class
        The AES engine (default :class:`~sevlab.rtl.aes.AESCompact`); see :data:`ENGINES`.
    address_width, cbit_position, id_width, min_sev_asid
        As for :class:`~sevlab.rtl.meu.MemoryEncryptionUnit`.

    Members
    -------
    host, priv : In(axi4_signature(...))
    dram : Out(axi4_signature(...))
        Whole-line INCR bursts (4 beats of 16 bytes), ID 0, one burst at a time.
    csr : In(csr_bus_signature(6))
        The unit's registers at word 0x00, the key slots' at 0x20.
    """

    #: The AES engines it can be built with by name (``engine``).
    engines = tuple(ENGINES)

    def __init__(self, *, key_bits=128, slots=16, engine="compact", address_width=48, cbit_position=47,
                 id_width=4, min_sev_asid=1, rom_styles=None, tweak_engines=None):
        self._engine, self._engine_class = _engine_class(engine)
        check_unit_parameters(address_width=address_width, cbit_position=cbit_position)
        if rom_styles or tweak_engines is not None:
            raise ValueError("rom_styles and tweak_engines shape the pipelined engine, not the small unit's")
        self._key_bits = key_bits
        self._slots = slots
        self._address_width = address_width
        self._cbit_position = cbit_position
        self._id_width = id_width
        self._min_sev_asid = min_sev_asid
        self._asid_width = max(1, ceil_log2(slots))
        self._keyslots = KeySlotTable(key_bits=key_bits, slots=slots, read_ports=1, layout="rows")
        self._aes = self._engine_class(key_bits=key_bits)
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
    aes = property(lambda self: self._aes)

    def elaborate(self, platform):
        m = Module()
        field = self._bank.field
        host, priv, dram = self.host, self.priv, self.dram

        # The secure port: unit registers and the key-slot table, as in the large unit.
        bank, keyslots = self._bank, self._keyslots
        sme_enable, tsme, cbit_position = build_secure_port(
            m, csr=self.csr, bank=bank, keyslots=keyslots, slots=self._slots, min_sev_asid=self._min_sev_asid)
        events = {name: Signal(name=f"event_{name.lower()}") for name in (
            "ERR_NO_KEY", "ERR_BAD_BURST", "LINES_ENCRYPTED", "LINES_DECRYPTED", "LINES_BYPASSED")}
        bank.count_events(m, {name: [signal] for name, signal in events.items()})

        m.submodules.aes = aes = self._aes

        # The request in hand.
        slot_bits = max(1, ceil_log2(self._slots))
        port = Signal()                 # 0: host, 1: priv
        write = Signal()
        ident = Signal(self._id_width)
        first = Signal(2)               # the burst's first beat in the line
        length = Signal(8)              # AxLEN
        kind = Signal(Kind)
        line = Signal(self._address_width - 6)      # DRAM line address (C-bit removed)
        slot = Signal(slot_bits)
        end = Signal(3)
        m.d.comb += end.eq(first + length[:2])
        block = Signal(3)               # the line block at hand (4: past the line)
        beat = Signal(8)                # beats of a refused burst so far
        dram_beat = Signal(2)           # beat of the DRAM burst at hand
        in_range = Signal()
        m.d.comb += in_range.eq((block >= first) & (block <= end))
        tweak = Signal(128)             # T_block
        resp = Signal(2)
        whole = Signal()                # every byte of the line written so far
        rmw = Signal()                  # the block at hand is a read-modify-write
        ar_pending = Signal()
        aw_pending = Signal()

        # The key: one row of the key table, Cat(which, slot), read every cycle. ``key_ok`` is 0
        # for the cycle after which or slot changes, while the read port catches up.
        which = Signal(2)
        key_ok = Signal()
        key_read = keyslots.key_read[0]
        m.d.comb += [key_read.addr.eq(Cat(which, slot)), key_read.en.eq(1)]
        m.d.sync += key_ok.eq(1)
        key = key_read.data

        def select_key(row):
            m.d.sync += [which.eq(row), key_ok.eq(0)]

        # The DRAM port: whole-line bursts at the line, ID 0.
        dram_address = Cat(C(0, 6), line)
        m.d.comb += [
            dram.araddr.eq(dram_address), dram.arlen.eq(LINE_BEATS - 1), dram.arsize.eq(4),
            dram.arburst.eq(AXIBurst.INCR), dram.arid.eq(0), dram.arvalid.eq(ar_pending),
            dram.awaddr.eq(dram_address), dram.awlen.eq(LINE_BEATS - 1), dram.awsize.eq(4),
            dram.awburst.eq(AXIBurst.INCR), dram.awid.eq(0), dram.awvalid.eq(aw_pending),
            dram.wlast.eq(dram_beat == LINE_BEATS - 1),
        ]
        with m.If(dram.arready):
            m.d.sync += ar_pending.eq(0)
        with m.If(dram.awready):
            m.d.sync += aw_pending.eq(0)

        # The requester's W, R and B channels (the port of the request in hand).
        wvalid, wdata, wstrb = Signal(), Signal(128), Signal(16)
        wready, rvalid, rready, bvalid, bready = Signal(), Signal(), Signal(), Signal(), Signal()
        rdata, rresp, rlast = Signal(128), Signal(2), Signal()
        m.d.comb += [
            wvalid.eq(Mux(port, priv.wvalid, host.wvalid)),
            wdata.eq(Mux(port, priv.wdata, host.wdata)),
            wstrb.eq(Mux(port, priv.wstrb, host.wstrb)),
            rready.eq(Mux(port, priv.rready, host.rready)),
            bready.eq(Mux(port, priv.bready, host.bready)),
        ]
        for index, axi in enumerate((host, priv)):
            mine = port == index
            m.d.comb += [
                axi.wready.eq(wready & mine), axi.rvalid.eq(rvalid & mine), axi.bvalid.eq(bvalid & mine),
                axi.rdata.eq(rdata), axi.rresp.eq(rresp), axi.rlast.eq(rlast), axi.rid.eq(ident),
                axi.bresp.eq(resp), axi.bid.eq(ident),
            ]

        # Admission: round-robin over host AR, host AW, privileged AR, privileged AW; only the
        # granted request is decided (one decision's logic, not four).
        requests = [
            (host.arvalid, host.arready, 0, 0, host.arid, host.araddr, host.arlen, host.arsize,
             host.arburst, host.aruser),
            (host.awvalid, host.awready, 0, 1, host.awid, host.awaddr, host.awlen, host.awsize,
             host.awburst, host.awuser),
            (priv.arvalid, priv.arready, 1, 0, priv.arid, priv.araddr, priv.arlen, priv.arsize,
             priv.arburst, priv.aruser),
            (priv.awvalid, priv.awready, 1, 1, priv.awid, priv.awaddr, priv.awlen, priv.awsize,
             priv.awburst, priv.awuser),
        ]
        idle = Signal()
        hold = Signal()
        admit = Signal()
        eligible = Signal(len(requests))
        for n, (valid, *_) in enumerate(requests):
            m.d.comb += eligible[n].eq(valid & idle & ~hold)
        last = Signal(2, init=len(requests) - 1)
        grant = Signal(2)
        for offset in reversed(range(len(requests))):
            for n in range(len(requests)):
                candidate = (n + 1 + offset) % len(requests)
                with m.If((last == n) & eligible[candidate]):
                    m.d.comb += grant.eq(candidate)
        m.d.comb += admit.eq(eligible.any())
        r_port, r_write, r_id = Signal(), Signal(), Signal(self._id_width)
        r_address, r_len, r_size, r_burst = Signal(self._address_width), Signal(8), Signal(3), Signal(2)
        r_asid = Signal(self._asid_width)
        for n, (_, ready, port_value, write_value, *fields) in enumerate(requests):
            with m.If(grant == n):
                m.d.comb += [ready.eq(admit), r_port.eq(port_value), r_write.eq(write_value)]
                m.d.comb += [target.eq(value) for target, value in
                             zip((r_id, r_address, r_len, r_size, r_burst, r_asid), fields)]
        # The decision, as in the large unit (rtl/meu/README.md, "Routing").
        r_first = r_address[4:6]
        burst_ok = Signal()
        m.d.comb += burst_ok.eq((r_size == 4) & ((r_burst == AXIBurst.INCR) | (r_len == 0))
                                & (r_first + r_len <= LINE_BEATS - 1))
        cbit, needs_key, slot_valid = Signal(), Signal(), Signal()
        r_slot = Signal(slot_bits)
        r_line = Signal(self._address_width)
        # SEC_CM: MEU.TSME.NO_PLAINTEXT
        # Under TSME every line without the C-bit uses slot 0: no line reaches DRAM in plaintext.
        m.d.comb += [
            cbit.eq(sme_enable & r_address.bit_select(cbit_position, 1)),
            r_line.eq(r_address & ~(cbit.as_unsigned() << cbit_position)),
            needs_key.eq(cbit | tsme),
            r_slot.eq(Mux(cbit, r_asid, 0)),
            slot_valid.eq((r_slot < self._slots) & keyslots.valid.bit_select(r_slot, 1)),
        ]
        r_kind = Signal(Kind)
        # SEC_CM: MEU.ASID.NO_KEY
        # A line that needs a key its slot does not hold is refused here: no DRAM access, and a
        # refused read's response carries zeros.
        with m.If(~burst_ok | (needs_key & ~slot_valid)):
            m.d.comb += r_kind.eq(Kind.ERROR)
        with m.Elif(needs_key):
            m.d.comb += r_kind.eq(Kind.CIPHER)
        with m.Else():
            m.d.comb += r_kind.eq(Kind.BYPASS)

        mixed = Signal(128)             # encrypt input: new bytes whitened, the rest old plaintext's
        for n in range(16):
            take_new = wstrb[n] | ~rmw
            m.d.comb += mixed.word_select(n, 8).eq(
                Mux(take_new, (wdata ^ tweak).word_select(n, 8), aes.o.payload.block.word_select(n, 8)))
        last_w_beat = Signal()
        m.d.comb += last_w_beat.eq(block == end)

        def count_write_line():
            # The golden model counts a C=1 write as a line encrypted, and a partial one (any
            # byte of the line not written) as a line decrypted too.
            m.d.comb += [events["LINES_ENCRYPTED"].eq(1),
                         events["LINES_DECRYPTED"].eq(~whole | (wstrb != FULL_BEAT))]

        def decrypt_dram_beat():
            # The DRAM beat at hand into the engine (whitened, key1's decryption key); DRAM holds
            # it (rready low) until the engine takes it.
            m.d.comb += [
                aes.i.valid.eq(dram.rvalid & key_ok),
                aes.i.payload.block.eq(dram.rdata ^ tweak), aes.i.payload.key.eq(key),
                aes.i.payload.decrypt.eq(1),
                dram.rready.eq(key_ok & aes.i.ready),
            ]

        def next_block():
            m.d.sync += [tweak.eq(mul_alpha(tweak)), block.eq(block + 1)]

        with m.FSM(name="request") as fsm:
            with m.State("IDLE"):
                with m.If(admit):
                    m.d.sync += [
                        last.eq(grant), port.eq(r_port), write.eq(r_write), ident.eq(r_id),
                        first.eq(r_first), length.eq(r_len), kind.eq(r_kind), line.eq(r_line[6:]),
                        slot.eq(r_slot), block.eq(0), beat.eq(0), resp.eq(AXIResp.OKAY),
                        whole.eq((r_first == 0) & (r_len == LINE_BEATS - 1)),
                    ]
                    select_key(KeyRow.KEY2)
                    m.d.comb += [
                        events["ERR_BAD_BURST"].eq(~burst_ok),
                        events["ERR_NO_KEY"].eq(burst_ok & needs_key & ~slot_valid),
                        events["LINES_BYPASSED"].eq(r_kind == Kind.BYPASS),
                        events["LINES_DECRYPTED"].eq((r_kind == Kind.CIPHER) & ~r_write),
                    ]
                    with m.Switch(r_kind):
                        with m.Case(Kind.ERROR):
                            m.next = "ERROR"
                        with m.Case(Kind.BYPASS):
                            m.d.sync += [ar_pending.eq(~r_write), aw_pending.eq(r_write), dram_beat.eq(0)]
                            m.next = "BYPASS"
                        with m.Case(Kind.CIPHER):
                            m.d.sync += ar_pending.eq(~r_write)
                            m.next = "TWEAK_SEND"

            # Refused: a read gets AxLEN + 1 zero beats with SLVERR; a write's beats are taken
            # and answered with SLVERR.
            with m.State("ERROR"):
                m.d.comb += [rvalid.eq(~write), rdata.eq(0), rresp.eq(AXIResp.SLVERR),
                             rlast.eq(beat == length), wready.eq(write)]
                with m.If(Mux(write, wvalid, rready)):
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(beat == length):
                        with m.If(write):
                            m.d.sync += resp.eq(AXIResp.SLVERR)
                            m.next = "RESPOND"
                        with m.Else():
                            m.next = "IDLE"

            # Bypass: the requester's beats pass straight between its port and the DRAM burst;
            # the line's other beats are read and dropped, or written with no strobes.
            with m.State("BYPASS"):
                with m.If(write):
                    m.d.comb += [
                        dram.wvalid.eq(Mux(in_range, wvalid, 1)), dram.wdata.eq(wdata),
                        dram.wstrb.eq(Mux(in_range, wstrb, 0)), wready.eq(in_range & dram.wready),
                    ]
                    with m.If(dram.wvalid & dram.wready):
                        m.d.sync += [block.eq(block + 1), dram_beat.eq(dram_beat + 1)]
                        with m.If(block == LINE_BEATS - 1):
                            m.next = "WRITE_B"
                with m.Else():
                    m.d.comb += [
                        rvalid.eq(in_range & dram.rvalid), rdata.eq(dram.rdata), rresp.eq(dram.rresp),
                        rlast.eq(block == end), dram.rready.eq(~in_range | rready),
                    ]
                    with m.If(dram.rvalid & dram.rready):
                        m.d.sync += block.eq(block + 1)
                        with m.If(block == LINE_BEATS - 1):
                            m.next = "IDLE"

            # The tweak: AES-enc(key2, DRAM line address), then T_j = T · α^j block by block.
            with m.State("TWEAK_SEND"):
                m.d.comb += [aes.i.valid.eq(key_ok), aes.i.payload.block.eq(dram_address),
                             aes.i.payload.key.eq(key), aes.i.payload.decrypt.eq(0)]
                with m.If(aes.i.valid & aes.i.ready):
                    select_key(Mux(write, KeyRow.KEY1, KeyRow.KEY1_DECRYPT))
                    m.next = "TWEAK_WAIT"
            with m.State("TWEAK_WAIT"):
                m.d.comb += aes.o.ready.eq(1)
                with m.If(aes.o.valid):
                    m.d.sync += tweak.eq(aes.o.payload.block)
                    with m.If(write):
                        m.next = "WRITE_BLOCK"
                    with m.Else():
                        m.next = "READ_BLOCK"

            # Encrypted read: the line's DRAM beats one by one; a wanted one goes through the
            # engine (rready low meanwhile) and out to the requester, the others are dropped.
            with m.State("READ_BLOCK"):
                with m.If(in_range):
                    decrypt_dram_beat()
                    with m.If(aes.i.valid & aes.i.ready):
                        m.d.sync += resp.eq(dram.rresp)
                        m.next = "READ_OUT"
                with m.Else():
                    m.d.comb += dram.rready.eq(1)
                    with m.If(dram.rvalid):
                        next_block()
                        with m.If(block == LINE_BEATS - 1):
                            m.next = "IDLE"
            with m.State("READ_OUT"):
                m.d.comb += [
                    rvalid.eq(aes.o.valid), rdata.eq(aes.o.payload.block ^ tweak), rresp.eq(resp),
                    rlast.eq(block == end), aes.o.ready.eq(rready),
                ]
                with m.If(aes.o.valid & rready):
                    next_block()
                    with m.If(block == LINE_BEATS - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ_BLOCK"

            # Encrypted write, block by block: a block with every strobe set is encrypted; a
            # block with some is a read-modify-write (its old ciphertext read and decrypted, the
            # new bytes merged in, encrypted); a block with none, or outside the burst, is left
            # as it is (re-encrypting its plaintext would give the same ciphertext). Each
            # written block is a DRAM burst of its own, the line's other beats without strobes.
            with m.State("WRITE_BLOCK"):
                with m.If(block > end):
                    m.next = "RESPOND"
                with m.Elif(block < first):
                    next_block()
                with m.Elif(wvalid):
                    with m.If(wstrb == 0):
                        m.d.comb += wready.eq(1)
                        m.d.sync += whole.eq(0)
                        with m.If(last_w_beat):
                            count_write_line()
                        next_block()
                    with m.Elif(wstrb == FULL_BEAT):
                        m.d.sync += rmw.eq(0)
                        m.next = "ENCRYPT"
                    with m.Else():
                        m.d.sync += [rmw.eq(1), ar_pending.eq(1), dram_beat.eq(0)]
                        select_key(KeyRow.KEY1_DECRYPT)
                        m.next = "RMW_READ"
            with m.State("RMW_READ"):
                with m.If(dram_beat == block[:2]):
                    decrypt_dram_beat()
                    with m.If(aes.i.valid & aes.i.ready):
                        select_key(KeyRow.KEY1)
                with m.Else():
                    m.d.comb += dram.rready.eq(1)
                with m.If(dram.rvalid & dram.rready):
                    m.d.sync += dram_beat.eq(dram_beat + 1)
                    with m.If(dram.rresp != AXIResp.OKAY):
                        m.d.sync += resp.eq(dram.rresp)
                    with m.If(dram_beat == LINE_BEATS - 1):
                        m.next = "ENCRYPT"
            with m.State("ENCRYPT"):
                # A read-modify-write takes the old plaintext from the engine's output in the
                # cycle the engine takes the merged block (AESCompact accepts a block in the
                # cycle its previous result leaves).
                fire = Signal()
                m.d.comb += [
                    fire.eq(wvalid & key_ok & (~rmw | aes.o.valid)),
                    aes.i.valid.eq(fire), aes.i.payload.block.eq(mixed), aes.i.payload.key.eq(key),
                    aes.i.payload.decrypt.eq(0),
                    aes.o.ready.eq(rmw & fire),
                    wready.eq(fire & aes.i.ready),
                ]
                with m.If(fire & aes.i.ready):
                    m.d.sync += [whole.eq(whole & (wstrb == FULL_BEAT)), aw_pending.eq(1), dram_beat.eq(0)]
                    with m.If(last_w_beat):
                        count_write_line()
                    m.next = "WRITE_OUT"
            with m.State("WRITE_OUT"):
                here = dram_beat == block[:2]
                m.d.comb += [
                    dram.wvalid.eq(Mux(here, aes.o.valid, 1)), dram.wdata.eq(aes.o.payload.block ^ tweak),
                    dram.wstrb.eq(Mux(here, FULL_BEAT, 0)), aes.o.ready.eq(here & dram.wready),
                ]
                with m.If(dram.wvalid & dram.wready):
                    m.d.sync += dram_beat.eq(dram_beat + 1)
                    with m.If(dram_beat == LINE_BEATS - 1):
                        m.next = "WRITE_B"
            with m.State("WRITE_B"):
                # A write's response waits for DRAM's; a DRAM error is passed on.
                m.d.comb += dram.bready.eq(1)
                with m.If(dram.bvalid):
                    with m.If(dram.bresp != AXIResp.OKAY):
                        m.d.sync += resp.eq(dram.bresp)
                    with m.If(kind == Kind.CIPHER):
                        next_block()
                        m.next = "WRITE_BLOCK"
                    with m.Else():
                        m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += bvalid.eq(1)
                with m.If(bready):
                    m.next = "IDLE"

        # SEC_CM: KEYSLOTS.SLOT.ATOMIC_UPDATE
        # A slot changes only between requests: a key command holds admission and is granted
        # once the request in hand is done.
        m.d.comb += [
            idle.eq(fsm.ongoing("IDLE")),
            hold.eq(keyslots.quiesce_request),
            keyslots.quiesce_grant.eq(keyslots.quiesce_request & idle),
            field("STATUS", "idle").r_data.eq(idle),
            field("STATUS", "key_update").r_data.eq(keyslots.quiesce_request),
        ]
        return m
