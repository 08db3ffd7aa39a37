"""The XTS key store: one entry per key selector, written through an install stream.

See ``rtl/xts/README.md``.
"""

from amaranth.hdl import Signal, Module
from amaranth.lib import wiring, stream
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..aes.expander import AESKeyExpander
from .layouts import xts_key_layout, xts_install_layout

__all__ = ["XTSKeyStore"]


class XTSKeyStore(wiring.Component):
    """Key pairs in a memory, with key1's decryption start computed at install time.

    An install takes the expander's latency (10 cycles for AES-128, 13 for AES-256) before the
    entry is written; the store accepts the next install after that. There is no path that
    reads key bits out of the store except ``key_read``, which only an engine is wired to.

    Members
    -------
    i_install : In(stream.Signature(xts_install_layout(...)))
    key_read : Out(ReadPort.Signature(...))
        The engine's synchronous read port (data one cycle after ``en``).
    """

    def __init__(self, *, key_bits=128, slots=16):
        if not isinstance(slots, int) or slots < 1:
            raise ValueError(f"Key slot count must be a positive integer, not {slots!r}")
        self._key_bits = key_bits
        self._slots = slots
        super().__init__({
            "i_install": In(stream.Signature(xts_install_layout(key_bits=key_bits, slots=slots))),
            "key_read": Out(ReadPort.Signature(addr_width=ceil_log2(slots),
                                               shape=xts_key_layout(key_bits=key_bits))),
        })

    key_bits = property(lambda self: self._key_bits)
    slots = property(lambda self: self._slots)

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = memory = Memory(shape=xts_key_layout(key_bits=self._key_bits),
                                              depth=self._slots, init=[])
        write = memory.write_port()
        read = memory.read_port()
        m.d.comb += [
            read.addr.eq(self.key_read.addr),
            read.en.eq(self.key_read.en),
            self.key_read.data.eq(read.data),
        ]

        m.submodules.expander = expander = AESKeyExpander(key_bits=self._key_bits)
        pending = Signal()
        request = Signal.like(self.i_install.payload)
        m.d.comb += [
            expander.i.valid.eq(self.i_install.valid & ~pending),
            expander.i.payload.key.eq(self.i_install.payload.key1),
            self.i_install.ready.eq(expander.i.ready & ~pending),
            expander.o.ready.eq(pending),
        ]
        with m.If(self.i_install.valid & self.i_install.ready):
            m.d.sync += [pending.eq(1), request.eq(self.i_install.payload)]
        with m.If(expander.o.valid & expander.o.ready):
            m.d.comb += [
                write.en.eq(1),
                write.addr.eq(request.slot),
                write.data.key1.eq(request.key1),
                write.data.key1_decrypt.eq(expander.o.payload.decryption_key),
                write.data.key2.eq(request.key2),
            ]
            m.d.sync += pending.eq(0)
        return m
