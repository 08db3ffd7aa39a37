"""The compact XTS engine: one iterative AES core for the tweak and the data.

See ``rtl/xts/README.md`` for the sequence, numbers and testplan.
"""

from amaranth.hdl import Signal, Module, Mux
from amaranth.lib import wiring, stream
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..aes import AESCompact
from .layouts import xts_key_layout, xts_request_layout, xts_response_layout
from .tweak import mul_alpha

__all__ = ["XTSCompact"]


class XTSCompact(wiring.Component):
    """XTS-AES-128/256 on one :class:`~sevlab.rtl.aes.AESCompact`, one block at a time.

    Per unit: read the key (1 cycle), encrypt the tweak with key2 (Nr + 1 cycles), then for each
    block send ``P ⊕ T_j`` through the core with key1 and return ``result ⊕ T_j`` (Nr + 1
    cycles a block). Same ports and the same contract as :class:`XTSPipelined`.
    """

    def __init__(self, *, key_bits=128, slots=16):
        self._key_bits = key_bits
        self._slots = slots
        self._aes = AESCompact(key_bits=key_bits)
        super().__init__({
            "i": In(stream.Signature(xts_request_layout(slots=slots))),
            "o": Out(stream.Signature(xts_response_layout())),
            "key_read": In(ReadPort.Signature(addr_width=ceil_log2(slots),
                                              shape=xts_key_layout(key_bits=key_bits))),
        })

    key_bits = property(lambda self: self._key_bits)
    block_interval = property(lambda self: self._aes.interval + 1,
                              doc="Cycles per block inside a unit.")
    unit_overhead = property(lambda self: self._aes.interval + 2,
                             doc="Cycles per unit for the key read and the tweak.")

    def elaborate(self, platform):
        m = Module()
        m.submodules.aes = aes = self._aes
        key = self.key_read.data
        tweak = Signal(128)      # T_j of the block in the core
        decrypt = Signal()       # the unit's direction
        first = Signal()
        last = Signal()

        fetch_key = Signal()
        m.d.comb += [
            # Read-port enables idle high: this one must be driven low except when fetching.
            self.key_read.en.eq(fetch_key),
            self.key_read.addr.eq(self.i.payload.key_sel),
            self.o.payload.data.eq(aes.o.payload.block ^ tweak),
            self.o.payload.first.eq(first),
            self.o.payload.last.eq(last),
        ]
        with m.FSM():
            with m.State("IDLE"):
                # The unit's first beat waits at the input while its key and tweak are made.
                with m.If(self.i.valid):
                    m.d.comb += fetch_key.eq(1)
                    m.d.sync += decrypt.eq(self.i.payload.decrypt)
                    m.next = "TWEAK_SEND"
            with m.State("TWEAK_SEND"):
                m.d.comb += [
                    aes.i.valid.eq(1),
                    aes.i.payload.block.eq(self.i.payload.tweak),
                    aes.i.payload.key.eq(key.key2),
                    aes.i.payload.decrypt.eq(0),
                ]
                with m.If(aes.i.ready):
                    m.next = "TWEAK_WAIT"
            with m.State("TWEAK_WAIT"):
                m.d.comb += aes.o.ready.eq(1)
                with m.If(aes.o.valid):
                    m.d.sync += tweak.eq(aes.o.payload.block)
                    m.next = "BLOCK_SEND"
            with m.State("BLOCK_SEND"):
                m.d.comb += [
                    aes.i.valid.eq(self.i.valid),
                    aes.i.payload.block.eq(self.i.payload.data ^ tweak),
                    aes.i.payload.key.eq(Mux(decrypt, key.key1_decrypt, key.key1)),
                    aes.i.payload.decrypt.eq(decrypt),
                    self.i.ready.eq(aes.i.ready),
                ]
                with m.If(self.i.valid & aes.i.ready):
                    m.d.sync += [first.eq(self.i.payload.first), last.eq(self.i.payload.last)]
                    m.next = "BLOCK_WAIT"
            with m.State("BLOCK_WAIT"):
                m.d.comb += [self.o.valid.eq(aes.o.valid), aes.o.ready.eq(self.o.ready)]
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += tweak.eq(mul_alpha(tweak))
                    with m.If(last):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BLOCK_SEND"
        return m
