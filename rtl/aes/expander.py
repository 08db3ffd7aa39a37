"""The decryption-key expander: from a cipher key to the window decryption starts from.

See ``rtl/aes/README.md`` (key schedule).
"""

from amaranth.hdl import Signal, Module, Cat, Array, Const
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .ops import rounds_for, schedule_constants, key_sbox_word, key_step, round_key, wire
from .sbox import sbox_rom

__all__ = ["AESKeyExpander"]


class AESKeyExpander(wiring.Component):
    """Runs the forward key schedule to its end, one step a cycle, on four S-box ROMs.

    The engines expand round keys alongside the data, forward when encrypting and backward when
    decrypting; backward needs the *end* of the schedule as its start: rk10 for AES-128, rk13‖rk14
    for AES-256 (``sim.model.aes_decryption_key`` is the reference). A key store runs this once
    per installed key, so the engines never pay for it per block. A store that fills an engine's
    round-key tables instead takes every round key on the way (``stepping``).

    Members
    -------
    i : In(stream.Signature(StructLayout({"key": key_bits})))
    o : Out(stream.Signature(StructLayout({"decryption_key": key_bits})))
    stepping : Out(1)
        High in every cycle of a step, the last one included (until ``o`` is taken): then
        ``round_key`` is the round key the step made, FIPS-197 round ``round`` (1 .. 10 for
        AES-128; 2 .. 14 for AES-256, whose key is round keys 0 and 1).
    round : Out(range(Nr + 1)), round_key : Out(128)
    """

    def __init__(self, *, key_bits=128):
        rounds = rounds_for(key_bits)
        self._key_bits = key_bits
        # AES-256's window holds two round keys, so it reaches rk13‖rk14 one step early.
        self._steps = rounds if key_bits == 128 else rounds - 1
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"key": key_bits}))),
            "o": Out(stream.Signature(data.StructLayout({"decryption_key": key_bits}))),
            "stepping": Out(1),
            "round": Out(range(rounds + 1)),
            "round_key": Out(128),
        })

    key_bits = property(lambda self: self._key_bits)
    latency = property(lambda self: self._steps, doc="Cycles from acceptance to output.")

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        step = Signal(range(self._steps + 1))   # the step whose SubWord the ROMs hold
        window = Signal(self._key_bits)

        rotate_table, rcon_table = [], []
        for index in range(1 << len(step)):
            rotate, rcon = (schedule_constants(self._key_bits, decrypt=False, stage=index)
                            if 1 <= index <= self._steps else (False, 0))
            rotate_table.append(Const(rotate, 1))
            rcon_table.append(Const(rcon, 8))

        rom_in = [Signal(8, name=f"rom_in_{n}") for n in range(4)]
        rom_enable = Signal()
        sub_word = []
        for lane, byte in enumerate(rom_in):
            m.submodules[f"sbox_key_{lane}"] = rom = sbox_rom(inverse_too=False)
            port = rom.read_port()
            m.d.comb += [port.addr.eq(byte), port.en.eq(rom_enable)]
            sub_word.append(port.data)
        stepped = wire(m, key_step(window, sub_word, decrypt=False,
                                   rcon=Array(rcon_table)[step], rotate=Array(rotate_table)[step]),
                       "window_stepped")

        last = Signal()
        m.d.comb += [
            last.eq(step == self._steps),
            self.o.valid.eq(busy & last),
            self.o.payload.decryption_key.eq(stepped),
            self.i.ready.eq(~busy),
            self.stepping.eq(busy),
            self.round.eq(step + (self._key_bits == 256)),
            self.round_key.eq(round_key(stepped, decrypt=False)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += [Cat(*rom_in).eq(Cat(*key_sbox_word(self.i.payload.key, decrypt=False))),
                         rom_enable.eq(1)]
            m.d.sync += [busy.eq(1), step.eq(1), window.eq(self.i.payload.key)]
        with m.Elif(busy & ~last):
            m.d.comb += [Cat(*rom_in).eq(Cat(*key_sbox_word(stepped, decrypt=False))), rom_enable.eq(1)]
            m.d.sync += [step.eq(step + 1), window.eq(stepped)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += busy.eq(0)
        return m
