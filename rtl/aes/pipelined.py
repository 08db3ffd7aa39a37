"""The pipelined AES engine: one round per stage, a new block every cycle.

See ``rtl/aes/README.md`` for the stage structure, numbers and the testplan.
"""

from amaranth.hdl import Signal, Module, Cat, Mux, Shape, unsigned
from amaranth.lib import wiring, stream
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layouts import aes_request_layout, aes_response_layout, round_key_write_signature, has_tag
from .ops import (
    rounds_for, schedule_constants, sbox_address, round_after_sbox, key_sbox_word, key_step,
    round_key, initial_round_key, wire,
)
from .sbox import ROM_STYLES, sbox_rom

__all__ = ["AESPipelined"]

_DIRECTIONS = ("encrypt", "decrypt", "both")


class AESPipelined(wiring.Component):
    """AES-128/256 with one pipeline stage per round.

    Each stage's S-box ROM read register is its pipeline register: the block enters the ROMs of
    round 1 in the cycle it is accepted and leaves Nr cycles later. The round keys are computed
    alongside the data (four more S-boxes per stage), so every block may use a different key at
    no cost; or, with ``key_slots``, read from a table per round, written once per key, and
    every block names its slot. The pipeline never stalls: a held output waits in a queue, and the engine accepts
    a block only while the queue has room for every block in flight (so ``o.ready`` reaches no
    pipeline register). Tags wait in a queue of their own instead of riding the stages.

    Parameters
    ----------
    key_bits : 128 or 256
    direction : "encrypt", "decrypt" or "both"
        A one-direction engine is built without the other direction's logic and has no
        ``decrypt`` field in its request; "both" selects per block.
    tag_shape : shape
        Side information carried from each request to its response.
    rom_style, key_rom_style : None, "block" or "logic"
        Where Yosys puts the data path's S-box ROMs and the key schedule's (``sbox.ROM_STYLES``;
        ``key_rom_style`` defaults to ``rom_style``): a board top places each where its part has
        room.
    key_slots : int or None
        None: each request carries its key. An int (2 or more; one-direction engines only):
        each request carries a ``slot``, and the round keys come from Nr + 1 tables of that
        many entries (LUT RAM), written through ``round_keys`` while no block is in flight; no
        key schedule is built.

    Members
    -------
    i : In(stream.Signature(aes_request_layout(...)))
    o : Out(stream.Signature(aes_response_layout(...)))
    round_keys : In(round_key_write_signature(...))
        Only with ``key_slots``: the tables' write port.
    """

    def __init__(self, *, key_bits=128, direction="both", tag_shape=unsigned(0), rom_style=None,
                 key_rom_style=None, key_slots=None):
        self._rounds = rounds_for(key_bits)
        if direction not in _DIRECTIONS:
            raise ValueError(f"AES direction must be one of {_DIRECTIONS}, not {direction!r}")
        if key_slots is not None:
            if not isinstance(key_slots, int) or key_slots < 2:
                raise ValueError(f"Key slots must be an integer of at least 2, not {key_slots!r}")
            if direction == "both":
                # A block's stage would read round r or Nr - r: two read ports on every table.
                raise ValueError("An engine with key slots has one direction, 'encrypt' or 'decrypt'")
            if key_rom_style is not None:
                raise ValueError("An engine with key slots has no key schedule to place (key_rom_style)")
        for style in (rom_style, key_rom_style):
            if style not in ROM_STYLES:
                raise ValueError(f"ROM style must be one of {ROM_STYLES}, not {style!r}")
        self._rom_styles = {"data": rom_style, "key": key_rom_style or rom_style}
        self._key_bits = key_bits
        self._direction = direction
        self._tag_shape = tag_shape
        self._key_slots = key_slots
        # Table ``stage`` holds the round key stage ``stage`` adds (0: the whitening key).
        self._round_key_tables = [] if key_slots is None else [
            Memory(shape=128, depth=key_slots, init=[]) for _ in range(self._rounds + 1)]
        members = {
            "i": In(stream.Signature(aes_request_layout(
                key_bits=key_bits, tag_shape=tag_shape, runtime_direction=direction == "both",
                key_slots=key_slots))),
            "o": Out(stream.Signature(aes_response_layout(tag_shape=tag_shape))),
        }
        if key_slots is not None:
            members["round_keys"] = In(round_key_write_signature(key_bits=key_bits, slots=key_slots))
        super().__init__(members)

    key_bits = property(lambda self: self._key_bits)
    key_slots = property(lambda self: self._key_slots)
    round_key_tables = property(lambda self: list(self._round_key_tables),
                                doc="With ``key_slots``: the tables, by stage (for white-box tests).")
    direction = property(lambda self: self._direction)
    rounds = property(lambda self: self._rounds)
    latency = property(lambda self: self._rounds, doc="Cycles from acceptance to output.")

    def elaborate(self, platform):
        m = Module()
        both = self._direction == "both"

        # The pipeline moves every cycle; ``in_flight`` counts blocks accepted and not yet taken,
        # and the output queue can hold them all, so a held output never stops a stage.
        depth = self._rounds + 2
        in_flight = Signal(range(depth + 1))
        accepted = Signal()
        taken = Signal()
        valid = Signal(self._rounds)
        m.d.comb += [
            self.i.ready.eq(in_flight < depth),
            accepted.eq(self.i.valid & self.i.ready),
            taken.eq(self.o.valid & self.o.ready),
        ]
        m.d.sync += [
            valid.eq(Cat(accepted, valid[:-1])),
            in_flight.eq(in_flight + accepted - taken),
        ]

        request = self.i.payload
        decrypt = request.decrypt if both else self._direction == "decrypt"
        tagged = has_tag(self._tag_shape)
        if tagged:
            # Blocks leave in the order they entered, so the head tag belongs to the head block.
            m.submodules.tags = tags = SyncFIFO(width=Shape.cast(self._tag_shape).width, depth=depth)
            m.d.comb += [
                tags.w_en.eq(accepted), tags.w_data.eq(request.tag),
                tags.r_en.eq(taken), self.o.payload.tag.eq(tags.r_data),
            ]

        if self._key_slots is None:
            state = self._rounds_with_key_schedule(m, request, decrypt, both)
        else:
            state = self._rounds_with_key_tables(m, request, decrypt)

        # The output: the queue's head, or the last stage's block itself when the queue is empty
        # (no cycle added). A block not taken as it leaves the last stage is queued.
        m.submodules.results = results = SyncFIFO(width=128, depth=depth)
        bypass = ~results.r_rdy
        m.d.comb += [
            self.o.valid.eq(results.r_rdy | valid[-1]),
            self.o.payload.block.eq(Mux(bypass, state, results.r_data)),
            results.w_en.eq(valid[-1] & ~(bypass & self.o.ready)),
            results.w_data.eq(state),
            results.r_en.eq(self.o.ready),
        ]
        return m

    def _rounds_with_key_schedule(self, m, request, decrypt, both):
        """The Nr rounds, each stepping the key window beside the data; returns the last state."""
        # What enters round 1: the whitened block and the key window.
        state = wire(m, request.block ^ initial_round_key(request.key, decrypt=decrypt), "round_0_state")
        window = request.key
        for stage in range(1, self._rounds + 1):
            final = stage == self._rounds
            # The key window and the direction are plain registers of the stage.
            stage_window = Signal(self._key_bits, name=f"window_{stage}")
            m.d.sync += stage_window.eq(window)
            stage_decrypt = decrypt
            if both:
                stage_decrypt = Signal(name=f"decrypt_{stage}")
                m.d.sync += stage_decrypt.eq(decrypt)

            # The ROM read registers hold SubBytes of the state and SubWord of one key word.
            substituted = self._sbox_layer(
                m, "data", stage, sbox_address(state, decrypt=decrypt),
                decrypt, inverse=both or decrypt is True)
            # AES-256's last step would only make a round key that no round uses.
            if self._key_bits == 128 or not final:
                sub_word = self._sbox_layer(
                    m, "key", stage, key_sbox_word(window, decrypt=decrypt),
                    False, inverse=False)
                next_window = wire(m, self._stepped(stage_window, sub_word, stage, stage_decrypt),
                                   f"window_{stage}_stepped")
            else:
                next_window = stage_window
            # AES-128 adds the key it just made; AES-256 one its window already held.
            rk = wire(m, round_key(next_window if self._key_bits == 128 else stage_window,
                                   decrypt=stage_decrypt), f"round_key_{stage}")
            state = round_after_sbox(m, substituted, rk, decrypt=stage_decrypt, final=final,
                                     name=f"round_{stage}")
            window, decrypt = next_window, stage_decrypt
        return state

    def _rounds_with_key_tables(self, m, request, decrypt):
        """The Nr rounds, each adding a round key read from its table; returns the last state.

        Stage ``s`` adds round key ``s`` (encrypt) or ``Nr - s`` (decrypt). Its table is read a
        cycle early, with the slot of the block in the stage before, into a register, so that
        no table read lies between an S-box ROM and the next; only the whitening key is read in
        the cycle it is added, from the request's slot. The slot rides the stages (a few bits)
        where the key window did (a key's width).
        """
        writes = self.round_keys
        tables = []
        for stage, table in enumerate(self._round_key_tables):
            fips_round = self._rounds - stage if decrypt else stage
            m.submodules[f"round_keys_{stage}"] = table
            write = table.write_port()
            m.d.comb += [
                write.en.eq(writes.en & (writes.clear | (writes.round == fips_round))),
                write.addr.eq(writes.slot),
                write.data.eq(Mux(writes.clear, 0, writes.key)),
            ]
            tables.append(table.read_port(domain="comb"))

        slot = request.slot
        m.d.comb += tables[0].addr.eq(slot)
        state = wire(m, request.block ^ tables[0].data, "round_0_state")
        for stage in range(1, self._rounds + 1):
            final = stage == self._rounds
            rk = Signal(128, name=f"round_key_{stage}")
            m.d.comb += tables[stage].addr.eq(slot)
            m.d.sync += rk.eq(tables[stage].data)
            if not final:
                stage_slot = Signal.like(request.slot, name=f"slot_{stage}")
                m.d.sync += stage_slot.eq(slot)
                slot = stage_slot
            substituted = self._sbox_layer(m, "data", stage, sbox_address(state, decrypt=decrypt),
                                           decrypt, inverse=decrypt)
            state = round_after_sbox(m, substituted, rk, decrypt=decrypt, final=final,
                                     name=f"round_{stage}")
        return state

    def _stepped(self, window, sub_word, stage, decrypt):
        def step(direction):
            rotate, rcon = schedule_constants(self._key_bits, decrypt=direction, stage=stage)
            return key_step(window, sub_word, decrypt=direction, rcon=rcon, rotate=rotate)
        if isinstance(decrypt, bool):
            return step(decrypt)
        return Mux(decrypt, step(True), step(False))

    def _sbox_layer(self, m, kind, stage, address, decrypt, *, inverse):
        """Substitute each address byte through ROMs, two lookups per ROM; returns the bytes.

        Two read ports per ROM because one ECP5 block RAM serves two reads a cycle.
        """
        out = []
        for pair in range(0, len(address), 2):
            rom = sbox_rom(inverse_too=inverse, rom_style=self._rom_styles[kind])
            m.submodules[f"sbox_{kind}_{stage}_{pair // 2}"] = rom
            for byte in address[pair:pair + 2]:
                port = rom.read_port()
                m.d.comb += port.addr.eq(Cat(byte, decrypt) if inverse else byte)
                out.append(port.data)
        return out
