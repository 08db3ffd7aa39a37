"""The pipelined XTS engine: one 16-byte block a cycle, any mix of units, keys and directions.

See ``rtl/xts/README.md`` for the structure, numbers and testplan.
"""

from amaranth.hdl import Signal, Module, Mux
from amaranth.lib import wiring, stream, data
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..aes import AESPipelined
from .layouts import xts_key_layout, xts_request_layout, xts_response_layout
from .tweak import mul_alpha

__all__ = ["XTSPipelined"]


class XTSPipelined(wiring.Component):
    """XTS-AES-128/256 on two AES pipelines: one makes tweaks, one transforms the data.

    Every beat flows through both pipelines so that units of any length, including one block,
    follow each other at a block a cycle. In order: a key-fetch stage (the key store's read
    register), the tweak pipeline (``T = AES-enc(key2, tweak)``; only first beats use its
    result, the others ride along as its tag), a tweak stage (``T_j = T_j-1 · α``, whitening
    ``P ⊕ T_j``), the data pipeline (encrypt with key1 or decrypt from key1's decryption start,
    per unit), and the output XOR with ``T_j``.

    The key is read once per unit, on its first beat, and travels with the unit's beats, so a
    unit never mixes an old and a new key even if its slot is rewritten while it is in flight.

    Members
    -------
    i : In(stream.Signature(xts_request_layout(...)))
    o : Out(stream.Signature(xts_response_layout()))
    key_read : In(ReadPort.Signature(...))
        To the key store (this engine drives the address and enable).
    """

    def __init__(self, *, key_bits=128, slots=16):
        self._key_bits = key_bits
        self._slots = slots
        key_layout = xts_key_layout(key_bits=key_bits)
        self._data_tag = data.StructLayout({
            "data": 128, "first": 1, "last": 1, "decrypt": 1, "key": key_bits})
        self._out_tag = data.StructLayout({"tweak": 128, "first": 1, "last": 1})
        self._tweak_aes = AESPipelined(key_bits=key_bits, direction="encrypt",
                                       tag_shape=self._data_tag)
        self._data_aes = AESPipelined(key_bits=key_bits, direction="both", tag_shape=self._out_tag)
        super().__init__({
            "i": In(stream.Signature(xts_request_layout(slots=slots))),
            "o": Out(stream.Signature(xts_response_layout())),
            "key_read": In(ReadPort.Signature(addr_width=ceil_log2(slots), shape=key_layout)),
        })

    key_bits = property(lambda self: self._key_bits)
    latency = property(lambda self: 2 * self._tweak_aes.latency + 2,
                       doc="Cycles from a beat's acceptance to its result.")

    def elaborate(self, platform):
        m = Module()
        m.submodules.tweak_aes = tweak_aes = self._tweak_aes
        m.submodules.data_aes = data_aes = self._data_aes

        # Key fetch: hold the beat while the key store reads the unit's entry. The read port
        # only reads on first beats, so it keeps the unit's key for the beats that follow.
        fetched_valid = Signal()
        fetched = Signal(self.i.payload.shape())
        m.d.comb += [
            self.i.ready.eq(~fetched_valid | tweak_aes.i.ready),
            self.key_read.addr.eq(self.i.payload.key_sel),
            self.key_read.en.eq(self.i.valid & self.i.ready & self.i.payload.first),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [fetched_valid.eq(1), fetched.eq(self.i.payload)]
        with m.Elif(tweak_aes.i.ready):
            m.d.sync += fetched_valid.eq(0)

        key = self.key_read.data
        m.d.comb += [
            tweak_aes.i.valid.eq(fetched_valid),
            tweak_aes.i.payload.block.eq(fetched.tweak),
            tweak_aes.i.payload.key.eq(key.key2),
            tweak_aes.i.payload.tag.data.eq(fetched.data),
            tweak_aes.i.payload.tag.first.eq(fetched.first),
            tweak_aes.i.payload.tag.last.eq(fetched.last),
            tweak_aes.i.payload.tag.decrypt.eq(fetched.decrypt),
            tweak_aes.i.payload.tag.key.eq(Mux(fetched.decrypt, key.key1_decrypt, key.key1)),
        ]

        # Tweak stage: T_0 from the tweak pipeline on a first beat, T_j-1 · α after it.
        # ``tweak`` keeps the last beat's T after the stage empties, for the next beat.
        staged_valid = Signal()
        tweak = Signal(128)
        whitened = Signal(128)
        staged = Signal(self._data_tag)
        beat = tweak_aes.o.payload.tag
        current = Signal(128)
        m.d.comb += [
            current.eq(Mux(beat.first, tweak_aes.o.payload.block, mul_alpha(tweak))),
            tweak_aes.o.ready.eq(~staged_valid | data_aes.i.ready),
        ]
        with m.If(tweak_aes.o.valid & tweak_aes.o.ready):
            m.d.sync += [
                staged_valid.eq(1), staged.eq(beat), tweak.eq(current),
                whitened.eq(beat.data ^ current),
            ]
        with m.Elif(data_aes.i.ready):
            m.d.sync += staged_valid.eq(0)

        m.d.comb += [
            data_aes.i.valid.eq(staged_valid),
            data_aes.i.payload.block.eq(whitened),
            data_aes.i.payload.key.eq(staged.key),
            data_aes.i.payload.decrypt.eq(staged.decrypt),
            data_aes.i.payload.tag.tweak.eq(tweak),
            data_aes.i.payload.tag.first.eq(staged.first),
            data_aes.i.payload.tag.last.eq(staged.last),
        ]

        result = data_aes.o.payload
        m.d.comb += [
            self.o.valid.eq(data_aes.o.valid),
            data_aes.o.ready.eq(self.o.ready),
            self.o.payload.data.eq(result.block ^ result.tag.tweak),
            self.o.payload.first.eq(result.tag.first),
            self.o.payload.last.eq(result.tag.last),
        ]
        return m
