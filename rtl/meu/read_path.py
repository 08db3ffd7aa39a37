"""The unit's read path: DRAM reads, decryption, and responses in admission order.

See ``rtl/meu/README.md`` ("Read path").
"""

from amaranth.hdl import Signal, Mux, C, Cat
from amaranth.lib import data

from ..layouts import AXIBurst, AXIResp
from ..xts.tweak import mul_alpha
from .layouts import Kind, Port

__all__ = ["build_read_path"]

LINE_BEATS = 4
# C=0 beats waiting behind an encrypted line; a few cycles of DRAM data keep the bus busy.
BYPASS_BEATS = 4
_BEAT = data.StructLayout({"data": 128, "resp": 2})


def build_read_path(ctx):
    m, unit = ctx.m, ctx.unit
    dram = unit.dram
    b = ctx.stage_b
    admitted_read = ctx.stage_b_valid & ~b.write

    # Responses in admission order, and the DRAM lines in request order (errors have none).
    tokens, token_in, token = ctx.fifo("read_tokens", ctx.read_token, unit._max_reads, block_ram=True)
    lines, line_in, line_kind = ctx.fifo("read_lines", Kind, unit._max_reads, block_ram=True)
    requests, request_in, request = ctx.fifo("dram_reads", unit._address_width - 6, unit._max_reads)
    m.d.comb += [
        tokens.w_en.eq(admitted_read),
        token_in.port.eq(b.port), token_in.id.eq(b.id), token_in.first.eq(b.first),
        token_in.len.eq(b.len), token_in.kind.eq(b.kind),
        lines.w_en.eq(admitted_read & (b.kind != Kind.ERROR)),
        line_in.eq(b.kind),
        request_in.eq(b.line),
    ]

    # DRAM AR: always the whole line, one ID, so DRAM answers in order. A request goes out from
    # stage B directly when nothing is queued (one cycle less of read latency), else it queues.
    from_stage_b = admitted_read & (b.kind != Kind.ERROR)
    m.d.comb += [
        dram.arlen.eq(LINE_BEATS - 1),
        dram.arsize.eq(4),
        dram.arburst.eq(AXIBurst.INCR),
        dram.arid.eq(0),
    ]
    with m.If(requests.r_rdy):
        m.d.comb += [
            dram.arvalid.eq(1),
            dram.araddr.eq(Cat(C(0, 6), request)),
            requests.r_en.eq(dram.arready),
            requests.w_en.eq(from_stage_b),
        ]
    with m.Else():
        m.d.comb += [
            dram.arvalid.eq(from_stage_b),
            dram.araddr.eq(Cat(C(0, 6), b.line)),
            requests.w_en.eq(from_stage_b & ~dram.arready),
        ]

    # Tweaks (T_0 and the line's decryption key) arrive from the tweak client in order.
    tweaks, tweak_in, tweak_head = ctx.fifo(
        "read_tweaks", ctx.ciphers.tweak.o.payload.shape(), unit._max_reads, block_ram=True)
    ctx.read_tweaks = (tweaks, tweak_in)

    # DRAM data into the bypass FIFO or the decrypt client.
    bypass, bypass_in, bypass_out = ctx.fifo("read_bypass", _BEAT, BYPASS_BEATS)
    decrypt = ctx.ciphers.decrypt
    in_beat = Signal(2)
    tweak_reg = Signal(128)
    tweak_now = Signal(128)
    m.d.comb += tweak_now.eq(Mux(in_beat == 0, tweak_head.block, tweak_reg))
    to_cipher = lines.r_rdy & (line_kind == Kind.CIPHER)
    to_bypass = lines.r_rdy & (line_kind == Kind.BYPASS)
    taken = Signal()
    m.d.comb += [
        bypass.w_en.eq(dram.rvalid & to_bypass),
        bypass_in.data.eq(dram.rdata), bypass_in.resp.eq(dram.rresp),
        decrypt.i.valid.eq(dram.rvalid & to_cipher & tweaks.r_rdy),
        decrypt.i.payload.block.eq(dram.rdata ^ tweak_now),
        ctx.data_key(decrypt.i.payload, tweak_head.tag),
        decrypt.i.payload.tag.tweak.eq(tweak_now),
        decrypt.i.payload.tag.resp.eq(dram.rresp),
        dram.rready.eq((to_bypass & bypass.w_rdy) | (to_cipher & tweaks.r_rdy & decrypt.i.ready)),
        taken.eq(dram.rvalid & dram.rready),
    ]
    with m.If(taken):
        m.d.sync += [in_beat.eq(in_beat + 1), tweak_reg.eq(mul_alpha(tweak_now))]
        with m.If(in_beat == LINE_BEATS - 1):
            m.d.comb += lines.r_en.eq(1)
            m.d.comb += tweaks.r_en.eq(to_cipher)
        with m.If(in_beat == 0):
            m.d.comb += [
                ctx.event("LINES_DECRYPTED").eq(to_cipher),
                ctx.event("LINES_BYPASSED").eq(to_bypass),
            ]

    # Responses: one beat a cycle from the head token's source, forwarded if the request asked
    # for it (a short burst still reads and decrypts the whole line).
    out_beat = Signal(8)
    source_valid = Signal()
    beat_data = Signal(128)
    beat_resp = Signal(2)
    forward = Signal()
    last = Signal()
    end = token.first + token.len
    with m.Switch(token.kind):
        with m.Case(Kind.ERROR):
            m.d.comb += [source_valid.eq(1), beat_data.eq(0), beat_resp.eq(AXIResp.SLVERR),
                         forward.eq(1), last.eq(out_beat == token.len)]
        with m.Case(Kind.BYPASS):
            m.d.comb += [source_valid.eq(bypass.r_rdy), beat_data.eq(bypass_out.data),
                         beat_resp.eq(bypass_out.resp)]
        with m.Case(Kind.CIPHER):
            m.d.comb += [source_valid.eq(decrypt.o.valid),
                         beat_data.eq(decrypt.o.payload.block ^ decrypt.o.payload.tag.tweak),
                         beat_resp.eq(decrypt.o.payload.tag.resp)]
    with m.If(token.kind != Kind.ERROR):
        m.d.comb += [
            forward.eq((out_beat >= token.first) & (out_beat <= end)),
            last.eq(out_beat == LINE_BEATS - 1),
        ]
    deliverable = tokens.r_rdy & source_valid
    destination_ready = Signal()
    ctx.rmw_beat_valid = Signal()
    ctx.rmw_beat_ready = Signal()
    ctx.rmw_beat = beat_data
    for port, axi in ((Port.HOST, unit.host), (Port.PRIV, unit.priv)):
        selected = token.port == port
        m.d.comb += [
            axi.rvalid.eq(deliverable & selected & forward),
            axi.rid.eq(token.id),
            axi.rdata.eq(beat_data),
            axi.rresp.eq(beat_resp),
            axi.rlast.eq(Mux(token.kind == Kind.ERROR, last, out_beat == end)),
        ]
        with m.If(selected):
            m.d.comb += destination_ready.eq(axi.rready | ~forward)
    with m.If(token.port == Port.RMW):
        m.d.comb += destination_ready.eq(ctx.rmw_beat_ready)
    m.d.comb += ctx.rmw_beat_valid.eq(deliverable & (token.port == Port.RMW))
    consumed = deliverable & destination_ready
    with m.If(consumed):
        m.d.comb += [
            bypass.r_en.eq(token.kind == Kind.BYPASS),
            decrypt.o.ready.eq(token.kind == Kind.CIPHER),
        ]
        with m.If(last):
            m.d.comb += [tokens.r_en.eq(1), ctx.read_done.eq(1)]
            m.d.sync += out_beat.eq(0)
        with m.Else():
            m.d.sync += out_beat.eq(out_beat + 1)
