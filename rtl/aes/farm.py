"""Several compact engines behind one stream: a block every Nr / engines cycles, in order."""

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .compact import AESCompact
from .layouts import aes_request_layout, aes_response_layout, has_tag

__all__ = ["AESFarm"]


class AESFarm(wiring.Component):
    """AES encryption on ``engines`` :class:`AESCompact` engines, dealt blocks in turn.

    Block *n* goes to engine *n* mod ``engines`` and its result is taken from the same engine,
    so results leave in request order. A stream of blocks runs at ``engines`` blocks per Nr
    cycles (Nr + 1 from a block's acceptance to its result): for a client that needs less than
    a block a cycle, far fewer S-boxes than :class:`AESPipelined` (20 per engine against 20 per
    round). The memory encryption unit's tweak client is one: a tweak a line (``rtl/meu``).

    Parameters
    ----------
    engines : int
    key_bits : 128 or 256
    tag_shape : shape
    rom_style : None, "block" or "logic"
        Where the engines' S-box ROMs go (``sbox.ROM_STYLES``).

    Members
    -------
    i : In(stream.Signature(aes_request_layout(..., runtime_direction=False)))
    o : Out(stream.Signature(aes_response_layout(...)))
        As :class:`AESPipelined` with ``direction="encrypt"``.
    """

    def __init__(self, *, engines, key_bits=128, tag_shape=unsigned(0), rom_style=None):
        if not isinstance(engines, int) or engines < 1:
            raise ValueError(f"engines must be a positive integer, not {engines!r}")
        self._tag_shape = tag_shape
        self._engines = [AESCompact(key_bits=key_bits, tag_shape=tag_shape, direction="encrypt",
                                    rom_style=rom_style)
                         for _ in range(engines)]
        super().__init__({
            "i": In(stream.Signature(aes_request_layout(key_bits=key_bits, tag_shape=tag_shape,
                                                        runtime_direction=False))),
            "o": Out(stream.Signature(aes_response_layout(tag_shape=tag_shape))),
        })

    engines = property(lambda self: len(self._engines))
    latency = property(lambda self: self._engines[0].latency)

    def elaborate(self, platform):
        m = Module()
        count = len(self._engines)
        deal = Signal(range(count))         # the engine the next request goes to
        collect = Signal(range(count))      # the engine the next result comes from
        for index, engine in enumerate(self._engines):
            m.submodules[f"engine_{index}"] = engine
            m.d.comb += [
                engine.i.valid.eq(self.i.valid & (deal == index)),
                engine.i.payload.block.eq(self.i.payload.block),
                engine.i.payload.key.eq(self.i.payload.key),
                engine.o.ready.eq(self.o.ready & (collect == index)),
            ]
            if has_tag(self._tag_shape):
                m.d.comb += engine.i.payload.tag.eq(self.i.payload.tag)
        m.d.comb += self.i.ready.eq(Array(engine.i.ready for engine in self._engines)[deal])
        with m.Switch(collect):
            for index, engine in enumerate(self._engines):
                with m.Case(index):
                    m.d.comb += [self.o.valid.eq(engine.o.valid), self.o.payload.eq(engine.o.payload)]

        def next_of(turn):
            return Mux(turn == count - 1, 0, turn + 1)

        with m.If(self.i.valid & self.i.ready):
            m.d.sync += deal.eq(next_of(deal))
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += collect.eq(next_of(collect))
        return m
