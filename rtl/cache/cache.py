"""The ASID-tagged write-back cache in front of the memory encryption unit.

Lines are held in plaintext, tagged with their full physical address (C-bit included) and the
ASID; a dirty line goes back to the unit with its own address and ASID, so the unit encrypts it
with whatever key slot[ASID] holds *then*. See ``rtl/cache/README.md``.
"""

from amaranth.hdl import Signal, Module, Cat, C, Mux
from amaranth.lib import wiring, data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..csr import CSRBank, csr_bus_signature
from ..layouts import AXIBurst, AXIResp, axi4_signature
from .plru import plru_touch, plru_victim
from .regmap import CACHE_REGISTERS, COUNTERS, MAINT_ADDRESS_WIDTH, CacheOp

__all__ = ["WriteBackCache", "check_geometry"]

LINE_BEATS = 4
WAYS = (2, 4, 8)


def check_geometry(size_bytes, ways):
    """Return the number of lines; raise ValueError unless the geometry can be built."""
    if ways not in WAYS:
        raise ValueError(f"Ways must be one of {WAYS}, not {ways!r}")
    lines, rest = divmod(size_bytes, 64) if isinstance(size_bytes, int) else (0, 1)
    if rest or lines < 2 * ways or lines & (lines - 1):
        raise ValueError(f"Cache size must be a power of two of at least {128 * ways} bytes "
                         f"(two sets of {ways} ways), not {size_bytes!r}")
    return lines


class WriteBackCache(wiring.Component):
    """A blocking, set-associative, write-back, write-allocate cache of 64-byte lines, coherent
    for the secure processor: its requests find the cores' lines but never allocate one.

    Parameters
    ----------
    size_bytes : int
        Capacity; a power of two holding at least two sets.
    ways : 2, 4 or 8
    address_width : int
        Physical address bits, C-bit included.
    asid_width : int
        ASID bits (``awuser``/``aruser``).
    id_width : int
        AXI ID bits of both ports (the cache itself uses ID 0 downstream).

    Members
    -------
    host : In(axi4_signature(...))
        The cores: one request at a time is served; 16-byte beats inside one line.
    priv : In(axi4_signature(...))
        The secure processor, served in turn with the cores: a request whose line (address with
        C-bit, and ASID) is cached is served from it, as a core's would be; any other goes to
        the unit as it came, and nothing is allocated.
    mem : Out(axi4_signature(...))
        To the unit's host port: whole-line fills and write-backs, and the secure processor's
        misses.
    maint : In(csr_bus_signature(4))
        The cores' maintenance operations (WBINVD, CLFLUSH), status and counters.
    wbinvd_count : Out(32)
        WBINVDs completed since reset, for the secure processor's register window.
    """

    def __init__(self, *, size_bytes=8192, ways=4, address_width=48, asid_width=4, id_width=4):
        lines = check_geometry(size_bytes, ways)
        self._size_bytes = size_bytes
        self._ways = ways
        self._sets = lines // ways
        self._address_width = address_width
        self._asid_width = asid_width
        self._bank = CSRBank(CACHE_REGISTERS)
        port = axi4_signature(address_width=address_width, id_width=id_width, user_width=asid_width)
        super().__init__({
            "host": In(port),
            "priv": In(port),
            "mem": Out(port),
            "maint": In(csr_bus_signature(MAINT_ADDRESS_WIDTH)),
            "wbinvd_count": Out(32),
        })

    size_bytes = property(lambda self: self._size_bytes)
    ways = property(lambda self: self._ways)
    sets = property(lambda self: self._sets)
    register_map = property(lambda self: self._bank.register_map)

    def elaborate(self, platform):
        m = Module()
        host, priv, mem = self.host, self.priv, self.mem
        ways, sets = self._ways, self._sets
        way_bits, set_bits = exact_log2(ways), exact_log2(sets)
        tag_bits = self._address_width - 6 - set_bits
        tag_layout = data.StructLayout({"tag": tag_bits, "asid": self._asid_width})

        m.submodules.bank = bank = self._bank
        wiring.connect(m, wiring.flipped(self.maint), bank.bus)

        def field(register, name):
            return bank.field(register, name)

        # Storage. Data: one 16-byte beat per row, row = Cat(beat, way, set). Tags: one memory
        # per way, read for a whole set at once. Valid and dirty bits are flip-flops, so reset
        # and WBINVD clear them at once and the WBINVD scan skips a clean line in one cycle.
        m.submodules.data = data_memory = Memory(shape=128, depth=sets * ways * LINE_BEATS, init=[])
        data_read = data_memory.read_port()
        data_write = data_memory.write_port(granularity=8)
        tag_reads, tag_writes = [], []
        for way in range(ways):
            tag_memory = Memory(shape=tag_layout, depth=sets, init=[])
            m.submodules[f"tags_{way}"] = tag_memory
            tag_reads.append(tag_memory.read_port())
            tag_writes.append(tag_memory.write_port())
        valid = Signal(sets * ways)
        dirty = Signal(sets * ways)
        plru = Signal(max(1, sets * (ways - 1)))

        # The request being served, whose port it came from, and where its line lives.
        req_priv = Signal()
        req_write = Signal()
        req_id = Signal(len(host.arid))
        req_address = Signal(self._address_width)
        req_asid = Signal(self._asid_width)
        req_len = Signal(8)
        req_size = Signal(3)
        req_burst = Signal(2)
        req_set = req_address[6:6 + set_bits]
        req_tag = req_address[6 + set_bits:]
        req_first = req_address[4:6]
        way = Signal(way_bits)                          # the request's way, once known
        line = Cat(way, req_set)                        # index of valid/dirty, rows of data
        # Write data, collected before the lookup: beats by position in the line.
        write_data = Signal(data.ArrayLayout(128, LINE_BEATS))
        write_strobes = Signal(data.ArrayLayout(16, LINE_BEATS))
        beat = Signal(2)

        # The tag memories read `lookup_set`, or the incoming read's set in the cycle it is taken.
        lookup_set = Signal(set_bits)
        accept_read = Signal()
        accept_set = Signal(set_bits)
        for port in tag_reads:
            m.d.comb += port.addr.eq(Mux(accept_read, accept_set, lookup_set))
        tags = [data.View(tag_layout, port.data) for port in tag_reads]
        all_tags = Cat(*(port.data for port in tag_reads))     # way n at n * tag_layout.size
        set_valid = valid.word_select(lookup_set, ways)
        set_dirty = dirty.word_select(lookup_set, ways)
        set_plru = plru.word_select(lookup_set, ways - 1) if ways > 1 else plru

        # SEC_CM: CACHE.TAG.ASID_CBIT
        # A hit needs the whole physical address, C-bit included, and the ASID: a guest never
        # hits another guest's line, and the C=0 and C=1 views of a page are different lines.
        hits = Signal(ways)
        for n in range(ways):
            m.d.comb += hits[n].eq(set_valid[n] & (tags[n].tag == req_tag) & (tags[n].asid == req_asid))
        hit_way = Signal(way_bits)
        for n in reversed(range(ways)):
            with m.If(hits[n]):
                m.d.comb += hit_way.eq(n)
        # Victim: the lowest invalid way, else the one the pseudo-LRU tree points to.
        victim = Signal(way_bits)
        m.d.comb += victim.eq(plru_victim(set_plru, ways))
        for n in reversed(range(ways)):
            with m.If(~set_valid[n]):
                m.d.comb += victim.eq(n)

        def touch(used_way):
            if ways > 1:
                m.d.sync += plru.word_select(lookup_set, ways - 1).eq(plru_touch(set_plru, used_way, ways))

        # A stream of beats out of the data memory (host R for a hit, mem W for a write-back):
        # the read port runs whenever the output register is empty or being taken.
        stream_row = Signal(range(sets * ways * LINE_BEATS))   # next row to fetch
        stream_left = Signal(3)                                 # beats still to fetch
        stream_valid = Signal()
        stream_last = Signal()
        stream_ready = Signal()
        advance = Signal()
        m.d.comb += [
            advance.eq(~stream_valid | stream_ready),
            data_read.en.eq(advance),
            data_read.addr.eq(stream_row),
        ]
        with m.If(advance):
            m.d.sync += [stream_valid.eq(stream_left != 0), stream_last.eq(stream_left == 1)]
            with m.If(stream_left != 0):
                m.d.sync += [stream_row.eq(stream_row + 1), stream_left.eq(stream_left - 1)]

        # Write-back registers: which line, where it goes, and where the FSM goes afterwards.
        wb_line = Signal(way_bits + set_bits)
        wb_address = Signal(self._address_width)
        wb_asid = Signal(self._asid_width)
        wb_aw_done = Signal()
        wb_w_done = Signal()
        wb_then = Signal(2)             # 0: the miss goes on; 1: CLFLUSH done; 2: WBINVD scan
        fill_error = Signal()

        # Maintenance: the command waits in `maint_op` until the FSM is idle.
        command = field("COMMAND", "op")
        maint_op = Signal(2)
        maint_cycles = Signal(32)
        wbinvd_count = Signal(32)
        scan = Signal(way_bits + set_bits)  # WBINVD: the line being looked at
        with m.If(command.w_stb & (maint_op == 0)
                  & ((command.w_data == CacheOp.WBINVD) | (command.w_data == CacheOp.CLFLUSH))):
            m.d.sync += [maint_op.eq(command.w_data), maint_cycles.eq(0)]
        with m.Elif(maint_op != 0):
            m.d.sync += maint_cycles.eq(maint_cycles + 1)
        m.d.comb += [
            field("STATUS", "busy").r_data.eq(maint_op != 0),
            field("WBINVD_COUNT", "count").r_data.eq(wbinvd_count),
            self.wbinvd_count.eq(wbinvd_count),
        ]
        last_cycles = Signal(32)
        m.d.comb += field("LAST_CYCLES", "cycles").r_data.eq(last_cycles)
        maint_address = Cat(field("ADDRESS_LO", "bits").data,
                            field("ADDRESS_HI", "bits").data)[:self._address_width]

        events = {name: Signal(name=f"event_{name.lower()}") for name in COUNTERS}
        prefer_write = Signal()
        turn_priv = Signal()            # both ports ask: the secure processor's turn next

        # The requester's W, R and B channels: the FSM drives these, and only the port whose
        # request is being served sees them.
        w_valid, w_ready, w_last = Signal(), Signal(), Signal()
        w_data, w_strb = Signal(128), Signal(16)
        r_valid, r_ready, r_last, r_resp, r_data = Signal(), Signal(), Signal(), Signal(2), Signal(128)
        b_valid, b_ready, b_resp = Signal(), Signal(), Signal(2)
        for port, mine in ((host, ~req_priv), (priv, req_priv)):
            m.d.comb += [
                port.wready.eq(w_ready & mine),
                port.rvalid.eq(r_valid & mine), port.rdata.eq(r_data), port.rresp.eq(r_resp),
                port.rlast.eq(r_last), port.rid.eq(req_id),
                port.bvalid.eq(b_valid & mine), port.bresp.eq(b_resp), port.bid.eq(req_id),
            ]
        m.d.comb += [
            w_valid.eq(Mux(req_priv, priv.wvalid, host.wvalid)),
            w_data.eq(Mux(req_priv, priv.wdata, host.wdata)),
            w_strb.eq(Mux(req_priv, priv.wstrb, host.wstrb)),
            w_last.eq(Mux(req_priv, priv.wlast, host.wlast)),
            r_ready.eq(Mux(req_priv, priv.rready, host.rready)),
            b_ready.eq(Mux(req_priv, priv.bready, host.bready)),
        ]

        # The downstream port: whole lines, ID 0.
        m.d.comb += [
            mem.arid.eq(0), mem.arlen.eq(LINE_BEATS - 1), mem.arsize.eq(4), mem.arburst.eq(AXIBurst.INCR),
            mem.araddr.eq(Cat(C(0, 6), req_set, req_tag)), mem.aruser.eq(req_asid),
            mem.awid.eq(0), mem.awlen.eq(LINE_BEATS - 1), mem.awsize.eq(4), mem.awburst.eq(AXIBurst.INCR),
            mem.awaddr.eq(wb_address), mem.awuser.eq(wb_asid),
            mem.wdata.eq(data_read.data), mem.wstrb.eq(0xFFFF), mem.wlast.eq(stream_last),
        ]

        burst_ok = Signal()
        m.d.comb += burst_ok.eq((req_size == 4) & ((req_burst == AXIBurst.INCR) | (req_len == 0))
                                & (req_first + req_len <= LINE_BEATS - 1))
        full_line = Signal()
        m.d.comb += full_line.eq(write_strobes.as_value().all())

        def serve(line_way):
            """Go on to the hit path of the request, whose line is in way ``line_way``."""
            with m.If(req_write):
                m.d.sync += beat.eq(req_first)
                m.next = "WRITE_LINE"
            with m.Else():
                m.d.sync += [stream_row.eq(Cat(req_first, line_way, req_set)),
                             stream_left.eq(req_len + 1)]
                m.next = "READ_BEATS"

        asid_field = field("ASID", "asid").data

        def accept(port, from_priv):
            """Take ``port``'s write (while a read also waits, every other time) or read."""
            m.d.sync += [req_priv.eq(from_priv), turn_priv.eq(not from_priv)]
            with m.If(port.awvalid & (prefer_write | ~port.arvalid)):
                m.d.comb += port.awready.eq(1)
                m.d.sync += [
                    req_write.eq(1), req_id.eq(port.awid), req_address.eq(port.awaddr),
                    req_asid.eq(port.awuser), req_len.eq(port.awlen), req_size.eq(port.awsize),
                    req_burst.eq(port.awburst), lookup_set.eq(port.awaddr[6:6 + set_bits]),
                    beat.eq(port.awaddr[4:6]), write_strobes.eq(0), prefer_write.eq(0),
                ]
                m.next = "COLLECT"
            with m.Else():
                m.d.comb += [port.arready.eq(1), accept_read.eq(1), accept_set.eq(port.araddr[6:6 + set_bits])]
                m.d.sync += [
                    req_write.eq(0), req_id.eq(port.arid), req_address.eq(port.araddr),
                    req_asid.eq(port.aruser), req_len.eq(port.arlen), req_size.eq(port.arsize),
                    req_burst.eq(port.arburst), lookup_set.eq(port.araddr[6:6 + set_bits]),
                    prefer_write.eq(1),
                ]
                m.next = "LOOKUP"

        with m.FSM(name="cache"):
            with m.State("IDLE"):
                with m.If(maint_op == CacheOp.CLFLUSH):
                    m.d.sync += [req_address.eq(maint_address), req_asid.eq(asid_field),
                                 lookup_set.eq(maint_address[6:6 + set_bits])]
                    # An ASID past the port's width names no line (rather than a truncated one).
                    with m.If(asid_field[self._asid_width:].any()):
                        m.next = "MAINT_DONE"
                    with m.Else():
                        m.next = "CLFLUSH_TAGS"
                with m.Elif(maint_op == CacheOp.WBINVD):
                    m.d.sync += scan.eq(0)
                    m.next = "WBINVD_SCAN"
                with m.Else():
                    host_asks = host.awvalid | host.arvalid
                    priv_asks = priv.awvalid | priv.arvalid
                    with m.If(priv_asks & (turn_priv | ~host_asks)):
                        accept(priv, 1)
                    with m.Elif(host_asks):
                        accept(host, 0)

            with m.State("COLLECT"):
                m.d.comb += w_ready.eq(1)
                with m.If(w_valid):
                    m.d.sync += [write_data[beat].eq(w_data), write_strobes[beat].eq(w_strb),
                                 beat.eq(beat + 1)]
                    with m.If(w_last):
                        m.next = "LOOKUP"

            with m.State("LOOKUP"):
                with m.If(~burst_ok):
                    m.next = "REFUSE"
                with m.Elif(hits.any()):
                    m.d.sync += way.eq(hit_way)
                    with m.If(req_priv):
                        # SEC_CM: CACHE.SNOOP.SAME_TAG
                        # The secure processor sees a cached line only under the tag it asks
                        # with (address with C-bit, ASID), as a core would; a snoop leaves the
                        # replacement order alone.
                        m.d.comb += events["SNOOP_HITS"].eq(1)
                    with m.Else():
                        m.d.comb += events["HITS"].eq(1)
                        touch(hit_way)
                    serve(hit_way)
                with m.Elif(req_priv):
                    # Not cached: to the unit as it came, allocating nothing (an I/O agent's
                    # access: the cache never holds a copy the cores did not ask for).
                    m.d.comb += events["SNOOP_MISSES"].eq(1)
                    m.d.sync += [beat.eq(req_first), wb_aw_done.eq(0), wb_w_done.eq(0)]
                    with m.If(req_write):
                        m.next = "PASS_WRITE"
                    with m.Else():
                        m.next = "PASS_READ"
                with m.Else():
                    m.d.comb += events["MISSES"].eq(1)
                    m.d.sync += way.eq(victim)
                    # SEC_CM: CACHE.WRITEBACK.OWN_TAG
                    # A dirty victim leaves with its own address (C-bit included) and ASID, so
                    # the unit encrypts it with the key of the guest that wrote it.
                    with m.If(set_valid.bit_select(victim, 1) & set_dirty.bit_select(victim, 1)):
                        m.d.sync += [
                            wb_line.eq(Cat(victim, req_set)), wb_then.eq(0),
                            wb_address.eq(Cat(C(0, 6), req_set, all_tags.word_select(victim, tag_layout.size)[:tag_bits])),
                            wb_asid.eq(all_tags.word_select(victim, tag_layout.size)[tag_bits:]),
                        ]
                        m.next = "WRITE_BACK_START"
                    with m.Else():
                        m.next = "ALLOCATE"

            with m.State("ALLOCATE"):
                # The way holds nothing worth keeping now (invalid, clean, or written back).
                m.d.sync += [valid.bit_select(line, 1).eq(0), dirty.bit_select(line, 1).eq(0),
                             beat.eq(0), fill_error.eq(0)]
                with m.If(req_write & full_line):
                    m.next = "INSTALL"        # every byte is about to be written: no fill
                with m.Else():
                    m.next = "FILL_ADDRESS"

            with m.State("FILL_ADDRESS"):
                m.d.comb += mem.arvalid.eq(1)
                with m.If(mem.arready):
                    m.next = "FILL_DATA"

            with m.State("FILL_DATA"):
                m.d.comb += [
                    mem.rready.eq(1),
                    data_write.addr.eq(Cat(beat, line)),
                    data_write.data.eq(mem.rdata),
                    data_write.en.eq(Mux(mem.rvalid, 0xFFFF, 0)),
                ]
                with m.If(mem.rvalid):
                    m.d.sync += [beat.eq(beat + 1), fill_error.eq(fill_error | (mem.rresp != AXIResp.OKAY))]
                    with m.If(mem.rlast):
                        m.next = "FILL_CHECK"

            with m.State("FILL_CHECK"):
                # SEC_CM: CACHE.FILL.REFUSED
                # A refused fill (no key for this ASID) allocates nothing, and the request is
                # refused with zero data: the cache never holds what the unit would not give.
                with m.If(fill_error):
                    m.next = "REFUSE"
                with m.Else():
                    m.next = "INSTALL"

            with m.State("INSTALL"):
                for n in range(ways):
                    m.d.comb += [tag_writes[n].addr.eq(req_set),
                                 tag_writes[n].data.tag.eq(req_tag),
                                 tag_writes[n].data.asid.eq(req_asid),
                                 tag_writes[n].en.eq(way == n)]
                m.d.sync += valid.bit_select(line, 1).eq(1)
                touch(way)
                serve(way)

            with m.State("WRITE_LINE"):
                m.d.comb += [
                    data_write.addr.eq(Cat(beat, line)),
                    data_write.data.eq(write_data[beat]),
                    data_write.en.eq(write_strobes[beat]),
                ]
                m.d.sync += [beat.eq(beat + 1), dirty.bit_select(line, 1).eq(1)]
                with m.If(beat == req_first + req_len):
                    m.next = "WRITE_RESPONSE"

            with m.State("WRITE_RESPONSE"):
                m.d.comb += [b_valid.eq(1), b_resp.eq(AXIResp.OKAY)]
                with m.If(b_ready):
                    m.next = "IDLE"

            with m.State("READ_BEATS"):
                m.d.comb += [
                    r_valid.eq(stream_valid), r_data.eq(data_read.data),
                    r_resp.eq(AXIResp.OKAY), r_last.eq(stream_last),
                    stream_ready.eq(r_ready),
                ]
                with m.If(stream_valid & stream_last & r_ready):
                    m.next = "IDLE"

            # The secure processor's misses, passed through as they came (the unit refuses
            # what it would refuse on its own port).
            with m.State("PASS_READ"):
                m.d.comb += [mem.arvalid.eq(1), mem.araddr.eq(req_address), mem.arlen.eq(req_len)]
                with m.If(mem.arready):
                    m.next = "PASS_READ_DATA"

            with m.State("PASS_READ_DATA"):
                m.d.comb += [r_valid.eq(mem.rvalid), r_data.eq(mem.rdata), r_resp.eq(mem.rresp),
                             r_last.eq(mem.rlast), mem.rready.eq(r_ready)]
                with m.If(mem.rvalid & mem.rlast & r_ready):
                    m.next = "IDLE"

            with m.State("PASS_WRITE"):
                m.d.comb += [
                    mem.awvalid.eq(~wb_aw_done), mem.awaddr.eq(req_address), mem.awlen.eq(req_len),
                    mem.awuser.eq(req_asid),
                    mem.wvalid.eq(~wb_w_done), mem.wdata.eq(write_data[beat]),
                    mem.wstrb.eq(write_strobes[beat]), mem.wlast.eq(beat == req_first + req_len),
                ]
                with m.If(mem.awvalid & mem.awready):
                    m.d.sync += wb_aw_done.eq(1)
                with m.If(mem.wvalid & mem.wready):
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(mem.wlast):
                        m.d.sync += wb_w_done.eq(1)
                with m.If(wb_aw_done & wb_w_done):
                    m.next = "PASS_WRITE_RESPONSE"

            with m.State("PASS_WRITE_RESPONSE"):
                m.d.comb += [b_valid.eq(mem.bvalid), b_resp.eq(mem.bresp), mem.bready.eq(b_ready)]
                with m.If(mem.bvalid & b_ready):
                    m.next = "IDLE"

            with m.State("REFUSE"):
                # Error response: SLVERR, zero data, nothing cached.
                with m.If(req_write):
                    m.d.comb += [b_valid.eq(1), b_resp.eq(AXIResp.SLVERR)]
                    with m.If(b_ready):
                        m.next = "IDLE"
                with m.Else():
                    m.d.comb += [r_valid.eq(1), r_resp.eq(AXIResp.SLVERR), r_data.eq(0),
                                 r_last.eq(req_len == 0)]
                    with m.If(r_ready):
                        m.d.sync += req_len.eq(req_len - 1)
                        with m.If(req_len == 0):
                            m.next = "IDLE"

            # Write-back of line `wb_line` to `wb_address` with `wb_asid`: AW and the W beats
            # (straight out of the data memory) in parallel, then the response.
            with m.State("WRITE_BACK_START"):
                m.d.sync += [stream_row.eq(Cat(C(0, 2), wb_line)), stream_left.eq(LINE_BEATS),
                             wb_aw_done.eq(0), wb_w_done.eq(0)]
                m.next = "WRITE_BACK"

            with m.State("WRITE_BACK"):
                m.d.comb += [
                    mem.awvalid.eq(~wb_aw_done),
                    mem.wvalid.eq(stream_valid & ~wb_w_done),
                    stream_ready.eq(mem.wready & ~wb_w_done),
                ]
                with m.If(mem.awvalid & mem.awready):
                    m.d.sync += wb_aw_done.eq(1)
                with m.If(mem.wvalid & mem.wready & stream_last):
                    m.d.sync += wb_w_done.eq(1)
                with m.If(wb_aw_done & wb_w_done):
                    m.next = "WRITE_BACK_RESPONSE"

            with m.State("WRITE_BACK_RESPONSE"):
                m.d.comb += mem.bready.eq(1)
                with m.If(mem.bvalid):
                    m.d.comb += [events["WRITEBACKS"].eq(1),
                                 events["WRITEBACK_ERRORS"].eq(mem.bresp != AXIResp.OKAY)]
                    m.d.sync += [valid.bit_select(wb_line, 1).eq(0), dirty.bit_select(wb_line, 1).eq(0)]
                    with m.Switch(wb_then):
                        with m.Case(0):
                            m.next = "ALLOCATE"
                        with m.Case(1):
                            m.next = "MAINT_DONE"
                        with m.Default():
                            m.next = "WBINVD_NEXT"

            with m.State("CLFLUSH_TAGS"):
                m.next = "CLFLUSH_LOOKUP"       # the tags of the flushed line's set are read

            with m.State("CLFLUSH_LOOKUP"):
                m.d.sync += wb_then.eq(1)
                with m.If(hits.any() & set_dirty.bit_select(hit_way, 1)):
                    m.d.sync += [wb_line.eq(Cat(hit_way, req_set)),
                                 wb_address.eq(Cat(C(0, 6), req_set, req_tag)), wb_asid.eq(req_asid)]
                    m.next = "WRITE_BACK_START"
                with m.Else():
                    with m.If(hits.any()):
                        m.d.sync += valid.bit_select(Cat(hit_way, req_set), 1).eq(0)
                    m.next = "MAINT_DONE"

            def wbinvd_step():
                """On to the next line, or done after the last."""
                m.d.sync += scan.eq(scan + 1)
                with m.If(scan == sets * ways - 1):
                    m.d.sync += [valid.eq(0), dirty.eq(0), wbinvd_count.eq(wbinvd_count + 1)]
                    m.next = "MAINT_DONE"

            with m.State("WBINVD_SCAN"):
                # One cycle per clean line; a dirty one reads its tag and is written back.
                m.d.sync += lookup_set.eq(scan[way_bits:])
                with m.If(dirty.bit_select(scan, 1)):
                    m.next = "WBINVD_TAGS"
                with m.Else():
                    wbinvd_step()

            with m.State("WBINVD_TAGS"):
                m.next = "WBINVD_WRITE_BACK"

            with m.State("WBINVD_WRITE_BACK"):
                scan_tag = all_tags.word_select(scan[:way_bits], tag_layout.size)
                m.d.sync += [wb_line.eq(scan), wb_then.eq(2),
                             wb_address.eq(Cat(C(0, 6), scan[way_bits:], scan_tag[:tag_bits])),
                             wb_asid.eq(scan_tag[tag_bits:])]
                m.next = "WRITE_BACK_START"

            with m.State("WBINVD_NEXT"):
                m.next = "WBINVD_SCAN"
                wbinvd_step()

            with m.State("MAINT_DONE"):
                m.d.sync += [maint_op.eq(0), last_cycles.eq(maint_cycles + 1)]
                m.next = "IDLE"

        bank.count_events(m, {name: [event] for name, event in events.items()})
        return m
