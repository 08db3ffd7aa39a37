"""The unit's write path: data beats into lines, encryption, read-modify-write, responses.

See ``rtl/meu/README.md`` ("Write path").
"""

from amaranth.hdl import Signal, Mux, C, Cat, Shape
from amaranth.lib import data

from ..layouts import AXIBurst, AXIResp
from ..xts.tweak import mul_alpha
from .layouts import Kind, Port

__all__ = ["build_write_path"]

LINE_BEATS = 4
_W_BEAT = data.StructLayout({"data": 128, "strb": 16})
_LINE_SHAPE = data.StructLayout({"kind": Shape.cast(Kind), "whole": 1})
ALL_STROBES = (1 << 64) - 1


def build_write_path(ctx):
    m, unit = ctx.m, ctx.unit
    dram = unit.dram
    b = ctx.stage_b
    depth = unit._max_writes

    # The tweak client's results go to the path that asked for them.
    read_tweaks, read_tweak_in = ctx.read_tweaks
    write_tweaks, write_tweak_in, write_tweak = ctx.fifo(
        "write_tweaks", ctx.ciphers.tweak.o.payload.shape(), depth, block_ram=True)
    result = ctx.ciphers.tweak.o
    m.d.comb += [
        read_tweak_in.eq(result.payload), write_tweak_in.eq(result.payload),
        read_tweaks.w_en.eq(result.valid & ~result.payload.tag.write),
        write_tweaks.w_en.eq(result.valid & result.payload.tag.write),
        # Room for every tweak was reserved at admission: the client never waits.
        result.ready.eq(1),
    ]

    # Admitted writes wait here for their data beats.
    commands, command_in, command = ctx.fifo("write_commands", ctx.write_command, depth, block_ram=True)
    m.d.comb += [
        commands.w_en.eq(ctx.stage_b_valid & b.write),
        command_in.port.eq(b.port), command_in.id.eq(b.id), command_in.first.eq(b.first),
        command_in.len.eq(b.len), command_in.kind.eq(b.kind), command_in.line.eq(b.line),
        command_in.slot.eq(b.slot),
    ]

    # Collector: the command's beats from its port, placed at their beats of the line.
    lines, line_in, line_out = ctx.fifo("write_lines", ctx.line, 2)      # two whole lines: flip-flops
    # The dispatcher decides on a line's kind and wholeness: they also go through a queue of
    # their own, in step with the lines, so that the decision reads a few bits near it instead
    # of the 600-bit queue, whose read address fans out over the chip (on the ULX3S that
    # fan-out began the critical path into the dispatcher).
    shapes, shape_in, shape_out = ctx.fifo("write_line_shapes", _LINE_SHAPE, 2)
    b_tokens, b_token_in, b_token = ctx.fifo("b_tokens", ctx.b_token, depth, block_ram=True)
    beat = Signal(8)
    position = Signal(3)
    m.d.comb += position.eq(command.first + beat)
    wvalid = Signal()
    wdata = Signal(128)
    wstrb = Signal(16)
    for port, axi in ((Port.HOST, unit.host), (Port.PRIV, unit.priv)):
        with m.If(command.port == port):
            m.d.comb += [wvalid.eq(axi.wvalid), wdata.eq(axi.wdata), wstrb.eq(axi.wstrb)]
    collected_data = Signal(512)
    collected_strb = Signal(64)
    merged_data = Signal(512)
    merged_strb = Signal(64)
    for n in range(LINE_BEATS):
        here = position == n
        m.d.comb += [
            merged_data[128 * n:128 * (n + 1)].eq(Mux(here, wdata, collected_data[128 * n:128 * (n + 1)])),
            merged_strb[16 * n:16 * (n + 1)].eq(
                Mux(here, wstrb, Mux(beat == 0, 0, collected_strb[16 * n:16 * (n + 1)]))),
        ]
    last_beat = beat == command.len
    need_line = last_beat & (command.kind != Kind.ERROR)
    accept = Signal()
    m.d.comb += accept.eq(commands.r_rdy & wvalid & (~need_line | lines.w_rdy))
    for port, axi in ((Port.HOST, unit.host), (Port.PRIV, unit.priv)):
        m.d.comb += axi.wready.eq(accept & (command.port == port))
    m.d.comb += [
        line_in.data.eq(merged_data), line_in.strb.eq(merged_strb),
        line_in.line.eq(command.line),
        line_in.kind.eq(command.kind), line_in.slot.eq(command.slot),
        shape_in.kind.eq(command.kind), shape_in.whole.eq(merged_strb == ALL_STROBES),
        shapes.w_en.eq(lines.w_en), shapes.r_en.eq(lines.r_en),
        b_token_in.port.eq(command.port), b_token_in.id.eq(command.id),
        b_token_in.error.eq(command.kind == Kind.ERROR),
    ]
    with m.If(accept):
        m.d.sync += [collected_data.eq(merged_data), collected_strb.eq(merged_strb)]
        with m.If(last_beat):
            m.d.sync += beat.eq(0)
            m.d.comb += [commands.r_en.eq(1), b_tokens.w_en.eq(1), lines.w_en.eq(need_line)]
        with m.Else():
            m.d.sync += beat.eq(beat + 1)

    # Dispatcher: lines in order, a beat a cycle, to DRAM as they are or through the encrypt
    # client, straight from the line FIFO. A partial encrypted line is first copied into the
    # merge registers, completed with the old plaintext (read-modify-write), then sent from there.
    merged = Signal()                   # the line being sent is the merge registers' line
    merge = Signal(ctx.line)
    head_valid = Signal()
    head = Signal(ctx.line)
    m.d.comb += [
        head_valid.eq(merged | lines.r_rdy),
        head.eq(Mux(merged, merge, line_out)),
    ]
    send_beat = Signal(2)
    addresses, address_in, address_out = ctx.fifo("dram_writes", unit._address_width - 6, depth, block_ram=True)
    order, order_in, order_out = ctx.fifo("dram_write_order", Kind, depth)
    bypass, bypass_in, bypass_out = ctx.fifo("write_bypass", _W_BEAT, LINE_BEATS)
    encrypt = ctx.ciphers.encrypt
    # DRAM writes issued and not yet answered: a read-modify-write waits for zero, so that its
    # read sees every earlier write.
    outstanding = Signal(range(depth + 1))
    issued = Signal()
    answered = Signal()
    m.d.sync += outstanding.eq(outstanding + issued - answered)
    m.d.comb += [address_in.eq(head.line), order_in.eq(head.kind)]

    tweak_reg = Signal(128)
    tweak_now = Signal(128)
    m.d.comb += tweak_now.eq(Mux(send_beat == 0, write_tweak.block, tweak_reg))
    beat_data = Signal(128)
    beat_strb = Signal(16)
    m.d.comb += [
        beat_data.eq(head.data.word_select(send_beat, 128)),
        beat_strb.eq(head.strb.word_select(send_beat, 16)),
        bypass_in.data.eq(beat_data), bypass_in.strb.eq(beat_strb),
        encrypt.i.payload.block.eq(beat_data ^ tweak_now),
        ctx.data_key(encrypt.i.payload, write_tweak.tag),
        encrypt.i.payload.tag.tweak.eq(tweak_now),
        ctx.rmw_line.eq(merge.line),
        ctx.rmw_slot.eq(merge.slot),
    ]
    rmw_beat = Signal(2)
    encrypted_event = ctx.event("LINES_ENCRYPTED")
    bypassed_event = ctx.event("LINES_BYPASSED")

    # A read-modify-write's old plaintext beats land in a register first: the read path's
    # handshake (its response queue, the decrypt pipeline's output) then ends there instead of
    # reaching the enables of the 512 merge registers (on the ULX3S it did, the critical path).
    old_beat_valid = Signal()
    old_beat = Signal(128)
    m.d.sync += [old_beat_valid.eq(ctx.rmw_beat_valid & ctx.rmw_beat_ready), old_beat.eq(ctx.rmw_beat)]

    sent = Signal()                     # a beat of the head line left this cycle
    with m.FSM(name="dispatch"):
        with m.State("STREAM"):
            # The merge registers' line is a whole encrypted one.
            cipher = merged | (shape_out.kind == Kind.CIPHER)
            partial = ~merged & (shape_out.kind == Kind.CIPHER) & ~shape_out.whole
            # Until a partial line needs them, the merge registers follow the FIFO's head: their
            # enable then waits on no decision (on a large part the decision and its fan-out to
            # 600 registers did not fit a cycle).
            with m.If(~merged):
                m.d.sync += merge.eq(line_out)
            with m.If(head_valid & partial):
                # Only a line from the FIFO can be partial: the merge registers' line is whole.
                m.d.comb += lines.r_en.eq(1)
                m.next = "DRAIN"
            with m.Elif(head_valid & cipher):
                m.d.comb += encrypt.i.valid.eq(write_tweaks.r_rdy)
                m.d.comb += sent.eq(encrypt.i.valid & encrypt.i.ready)
            with m.Elif(head_valid):
                m.d.comb += [bypass.w_en.eq(1), sent.eq(bypass.w_rdy)]
            with m.If(sent):
                m.d.sync += [send_beat.eq(send_beat + 1), tweak_reg.eq(mul_alpha(tweak_now))]
                with m.If(send_beat == 0):
                    # Room in the address and order FIFOs was reserved at admission.
                    m.d.comb += [addresses.w_en.eq(1), order.w_en.eq(1), issued.eq(1),
                                 encrypted_event.eq(cipher), bypassed_event.eq(~cipher)]
                with m.If(send_beat == LINE_BEATS - 1):
                    m.d.comb += write_tweaks.r_en.eq(cipher)
                    with m.If(merged):
                        m.d.sync += merged.eq(0)
                    with m.Else():
                        m.d.comb += lines.r_en.eq(1)
        with m.State("DRAIN"):
            with m.If(outstanding == 0):
                m.next = "RMW_READ"
        with m.State("RMW_READ"):
            m.d.comb += ctx.rmw_valid.eq(1)
            with m.If(ctx.rmw_ready):
                m.next = "RMW_MERGE"
        with m.State("RMW_MERGE"):
            # The old plaintext fills the bytes the write did not strobe, a cycle after the read
            # path hands each beat over (``old_beat``).
            m.d.comb += ctx.rmw_beat_ready.eq(1)
            with m.If(old_beat_valid):
                for n in range(LINE_BEATS):
                    with m.If(rmw_beat == n):
                        for byte in range(16):
                            bit = 16 * n + byte
                            with m.If(~merge.strb[bit]):
                                m.d.sync += merge.data[8 * bit:8 * bit + 8].eq(
                                    old_beat[8 * byte:8 * byte + 8])
                m.d.sync += rmw_beat.eq(rmw_beat + 1)
                with m.If(rmw_beat == LINE_BEATS - 1):
                    m.d.sync += [merge.strb.eq(ALL_STROBES), merged.eq(1)]
                    m.next = "STREAM"

    # DRAM AW and W, in dispatch order.
    m.d.comb += [
        dram.awvalid.eq(addresses.r_rdy),
        dram.awaddr.eq(Cat(C(0, 6), address_out)),
        dram.awlen.eq(LINE_BEATS - 1), dram.awsize.eq(4), dram.awburst.eq(AXIBurst.INCR),
        dram.awid.eq(0),
        addresses.r_en.eq(dram.awready),
    ]
    w_beat = Signal(2)
    with m.If(order_out == Kind.CIPHER):
        m.d.comb += [
            dram.wvalid.eq(order.r_rdy & encrypt.o.valid),
            dram.wdata.eq(encrypt.o.payload.block ^ encrypt.o.payload.tag.tweak),
            dram.wstrb.eq(0xFFFF),
            encrypt.o.ready.eq(order.r_rdy & dram.wready),
        ]
    with m.Else():
        m.d.comb += [
            dram.wvalid.eq(order.r_rdy & bypass.r_rdy),
            dram.wdata.eq(bypass_out.data),
            dram.wstrb.eq(bypass_out.strb),
            bypass.r_en.eq(order.r_rdy & dram.wready),
        ]
    m.d.comb += dram.wlast.eq(w_beat == LINE_BEATS - 1)
    with m.If(dram.wvalid & dram.wready):
        m.d.sync += w_beat.eq(w_beat + 1)
        with m.If(w_beat == LINE_BEATS - 1):
            m.d.comb += order.r_en.eq(1)

    # Responses in order: a refused write answers at once, a DRAM write when DRAM answers.
    responses, response_in, response = ctx.fifo("dram_write_responses", 2, depth, block_ram=True)
    m.d.comb += [
        dram.bready.eq(responses.w_rdy),
        responses.w_en.eq(dram.bvalid),
        response_in.eq(dram.bresp),
        answered.eq(dram.bvalid & dram.bready),
    ]
    ready_to_answer = b_tokens.r_rdy & (b_token.error | responses.r_rdy)
    answer_taken = Signal()
    for port, axi in ((Port.HOST, unit.host), (Port.PRIV, unit.priv)):
        selected = b_token.port == port
        m.d.comb += [
            axi.bvalid.eq(ready_to_answer & selected),
            axi.bid.eq(b_token.id),
            axi.bresp.eq(Mux(b_token.error, AXIResp.SLVERR, response)),
        ]
        with m.If(selected):
            m.d.comb += answer_taken.eq(ready_to_answer & axi.bready)
    with m.If(answer_taken):
        m.d.comb += [b_tokens.r_en.eq(1), responses.r_en.eq(~b_token.error), ctx.write_done.eq(1)]
