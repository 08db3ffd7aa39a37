"""An XTS engine with its key store: the unit the command line, tests and benchmarks drive.

See ``rtl/xts/README.md``.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .compact import XTSCompact
from .keystore import XTSKeyStore
from .layouts import xts_install_layout, xts_request_layout, xts_response_layout
from .pipelined import XTSPipelined

__all__ = ["XTSCore", "ENGINES"]

ENGINES = {"pipelined": XTSPipelined, "compact": XTSCompact}


class XTSCore(wiring.Component):
    """:class:`XTSKeyStore` wired to a pipelined or compact XTS engine.

    Parameters
    ----------
    key_bits : 128 or 256
        AES key size; the XTS key pair is twice that.
    engine : "pipelined" or "compact"
    slots : int
        Number of key-store entries (``key_sel`` values).

    Members
    -------
    i_install : In(stream.Signature(xts_install_layout(...)))
    i : In(stream.Signature(xts_request_layout(...)))
    o : Out(stream.Signature(xts_response_layout()))
    """

    def __init__(self, *, key_bits=128, engine="pipelined", slots=16):
        if engine not in ENGINES:
            raise ValueError(f"XTS engine must be one of {sorted(ENGINES)}, not {engine!r}")
        self._store = XTSKeyStore(key_bits=key_bits, slots=slots)
        self._engine = ENGINES[engine](key_bits=key_bits, slots=slots)
        self._engine_name = engine
        super().__init__({
            "i_install": In(stream.Signature(xts_install_layout(key_bits=key_bits, slots=slots))),
            "i": In(stream.Signature(xts_request_layout(slots=slots))),
            "o": Out(stream.Signature(xts_response_layout())),
        })

    key_bits = property(lambda self: self._store.key_bits)
    slots = property(lambda self: self._store.slots)
    engine = property(lambda self: self._engine_name)

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = store = self._store
        m.submodules.engine = engine = self._engine
        wiring.connect(m, wiring.flipped(self.i_install), store.i_install)
        wiring.connect(m, store.key_read, engine.key_read)
        wiring.connect(m, wiring.flipped(self.i), engine.i)
        wiring.connect(m, engine.o, wiring.flipped(self.o))
        return m
