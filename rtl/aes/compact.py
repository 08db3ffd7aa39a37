"""The compact AES engine: one round per cycle through one round's worth of logic.

See ``rtl/aes/README.md`` for the loop structure, numbers and the testplan.
"""

from amaranth.hdl import Signal, Module, Cat, Array, Const, unsigned
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .layouts import aes_request_layout, aes_response_layout, has_tag
from .ops import (
    rounds_for, schedule_constants, sbox_address, round_after_sbox, key_sbox_word, key_step,
    round_key, initial_round_key, wire,
)
from .sbox import ROM_STYLES, sbox_rom

__all__ = ["AESCompact"]


class AESCompact(wiring.Component):
    """AES-128/256, encryption and decryption selected per block, iterating one round a cycle.

    One round of datapath (16 data S-box ROMs holding both tables, 4 key-schedule S-box ROMs,
    one MixColumns network shared by both directions) loops Nr times per block; the ROM read
    registers hold the state between rounds. A new block is accepted in the cycle the previous
    result leaves, so back-to-back blocks take Nr cycles each (10 for AES-128, 14 for AES-256).

    Parameters
    ----------
    key_bits : 128 or 256
    tag_shape : shape
        Side information carried from each request to its response.
    direction : "both" or "encrypt"
        "encrypt" builds no decryption: forward-only S-box ROMs (256 entries, not 512), no
        direction multiplexers, no ``decrypt`` field in the request.
    rom_style : None, "block" or "logic"
        Where Yosys puts the S-box ROMs (``sbox.ROM_STYLES``).

    Members
    -------
    i : In(stream.Signature(aes_request_layout(..., runtime_direction=True)))
    o : Out(stream.Signature(aes_response_layout(...)))
    """

    def __init__(self, *, key_bits=128, tag_shape=unsigned(0), direction="both", rom_style=None):
        if direction not in ("both", "encrypt"):
            raise ValueError(f"a compact engine's direction must be 'both' or 'encrypt', not {direction!r}")
        self._both = direction == "both"
        if rom_style not in ROM_STYLES:
            raise ValueError(f"ROM style must be one of {ROM_STYLES}, not {rom_style!r}")
        self._rom_style = rom_style
        self._rounds = rounds_for(key_bits)
        self._key_bits = key_bits
        self._tag_shape = tag_shape
        super().__init__({
            "i": In(stream.Signature(aes_request_layout(key_bits=key_bits, tag_shape=tag_shape,
                                                        runtime_direction=self._both))),
            "o": Out(stream.Signature(aes_response_layout(tag_shape=tag_shape))),
        })

    key_bits = property(lambda self: self._key_bits)
    rounds = property(lambda self: self._rounds)
    latency = property(lambda self: self._rounds, doc="Cycles from acceptance to output.")
    interval = property(lambda self: self._rounds, doc="Cycles between back-to-back blocks.")

    def elaborate(self, platform):
        m = Module()
        rounds = self._rounds

        busy = Signal()
        round_index = Signal(range(rounds + 1))   # the round whose S-box outputs the ROMs hold
        window = Signal(self._key_bits)           # the key window that entered that round
        decrypt = Signal() if self._both else False
        tagged = has_tag(self._tag_shape)
        tag = Signal(self._tag_shape) if tagged else None

        last = Signal()
        accept = Signal()
        m.d.comb += [
            last.eq(round_index == rounds),
            self.o.valid.eq(busy & last),
            self.i.ready.eq(~busy | (last & self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
        ]

        # Per-round key-schedule constants, looked up by round number and direction.
        rotate_table, rcon_table = [], []
        for decrypting in (False, True) if self._both else (False,):
            for index in range(1 << len(round_index)):
                rotate, rcon = (schedule_constants(self._key_bits, decrypt=decrypting, stage=index)
                                if 1 <= index <= rounds else (False, 0))
                rotate_table.append(Const(rotate, 1))
                rcon_table.append(Const(rcon, 8))
        constant_index = Cat(round_index, decrypt) if self._both else round_index
        rotate = wire(m, Array(rotate_table)[constant_index], "rotate")
        rcon = wire(m, Array(rcon_table)[constant_index], "rcon")

        # The S-box ROMs; their read registers hold the state between rounds.
        data_rom_in = [Signal(8, name=f"data_rom_in_{n}") for n in range(16)]
        key_rom_in = [Signal(8, name=f"key_rom_in_{n}") for n in range(4)]
        rom_decrypt = Signal()
        rom_enable = Signal()
        substituted = self._sbox_layer(m, "data", data_rom_in, rom_decrypt, rom_enable, inverse=self._both)
        sub_word = self._sbox_layer(m, "key", key_rom_in, Const(0), rom_enable, inverse=False)

        # One round, from the ROM outputs.
        stepped = wire(m, key_step(window, sub_word, decrypt=decrypt, rcon=rcon, rotate=rotate),
                       "window_stepped")
        rk = wire(m, round_key(stepped if self._key_bits == 128 else window, decrypt=decrypt),
                  "round_key")
        middle = round_after_sbox(m, substituted, rk, decrypt=decrypt, final=False, name="middle")
        final = round_after_sbox(m, substituted, rk, decrypt=decrypt, final=True, name="final")
        m.d.comb += self.o.payload.block.eq(final)
        if tagged:
            m.d.comb += self.o.payload.tag.eq(tag)

        request = self.i.payload
        request_decrypt = request.decrypt if self._both else False
        whitened = wire(m, request.block ^ initial_round_key(request.key, decrypt=request_decrypt),
                        "whitened")
        with m.If(accept):
            m.d.comb += [
                Cat(*data_rom_in).eq(Cat(*sbox_address(whitened, decrypt=request_decrypt))),
                Cat(*key_rom_in).eq(Cat(*key_sbox_word(request.key, decrypt=request_decrypt))),
                rom_decrypt.eq(request_decrypt),
                rom_enable.eq(1),
            ]
            m.d.sync += [busy.eq(1), round_index.eq(1), window.eq(request.key)]
            if self._both:
                m.d.sync += decrypt.eq(request.decrypt)
            if tagged:
                m.d.sync += tag.eq(request.tag)
        with m.Elif(busy & ~last):
            m.d.comb += [
                Cat(*data_rom_in).eq(Cat(*sbox_address(middle, decrypt=decrypt))),
                Cat(*key_rom_in).eq(Cat(*key_sbox_word(stepped, decrypt=decrypt))),
                rom_decrypt.eq(decrypt),
                rom_enable.eq(1),
            ]
            m.d.sync += [round_index.eq(round_index + 1), window.eq(stepped)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += busy.eq(0)
        return m

    def _sbox_layer(self, m, name, address, decrypt, enable, *, inverse):
        # One read port per ROM: an iCE40 block RAM has a single read port.
        out = []
        for lane, byte in enumerate(address):
            rom = sbox_rom(inverse_too=inverse, rom_style=self._rom_style)
            m.submodules[f"sbox_{name}_{lane}"] = rom
            port = rom.read_port()
            m.d.comb += [port.addr.eq(Cat(byte, decrypt) if inverse else byte), port.en.eq(enable)]
            out.append(port.data)
        return out
