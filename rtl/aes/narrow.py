"""The narrow AES engine: one 32-bit column a cycle through four S-box ROMs, for the smallest parts.

See ``rtl/aes/README.md`` (section "Narrow") for the round schedule, the skewed state layout,
numbers and the testplan.
"""

from amaranth.hdl import Signal, Module, Cat, Array, Const, Mux, unsigned
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .layouts import aes_request_layout, aes_response_layout, has_tag
from .ops import (
    rounds_for, schedule_constants, initial_round_key, split_bytes, split_words, wire,
    mix_column, xtime,      # one column at a time: the 16-byte wrappers do not fit
)
from .sbox import ROM_STYLES, sbox_rom

__all__ = ["AESNarrow"]

# A round takes six cycles, by phase:
#   0      the four ROMs look up the key word whose SubWord the round's key step needs;
#   1 .. 4 they look up data column 0 .. 3 (ShiftRows by the choice of bytes, see below);
#   5      nothing is looked up.
# The key window steps in phases 1 .. 4, one word each; the SubWord that comes out of the ROMs
# in phase 1 makes the round's first word. Column t's S-box bytes come out in phase t + 2, are
# mixed and keyed into a result register, and are written back a cycle later, in phase t + 3
# (column 3: phase 0 of the next round). Phases 5 and 0 hold no data lookup, so column 3 is
# written before the next round reads the state. The result register and the second stage
# of write slots cost 39 flip-flops and the sixth phase a cycle per round; without them,
# Yosys's mapper copied the mix network's last level into each of the 128 state registers'
# input LUTs to shorten the path, about 100 LUT4 more on iCE40.
_PHASES = 6


class AESNarrow(wiring.Component):
    """AES-128/256, encryption and decryption selected per block, one state column a cycle.

    Four S-box ROMs serve the data path (four bytes, one column, a cycle) and the key schedule
    (one SubWord a round, in a cycle of its own); the key window steps one 32-bit word a cycle.
    A round is six cycles and a block ``6 * Nr + 2``: 62 cycles for AES-128, 86 for
    AES-256 (90 when the engine can decrypt: four more cycles turn the AES-256 key window).
    A new block is accepted in the cycle the previous result leaves.

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
        ``key`` is sampled when the request is taken, as in :class:`AESCompact`: the cipher key
        to encrypt, the decryption key (``sim.model.aes_decryption_key``) to decrypt.
    o : Out(stream.Signature(aes_response_layout(...)))
    """

    def __init__(self, *, key_bits=128, tag_shape=unsigned(0), direction="both", rom_style=None):
        if direction not in ("both", "encrypt"):
            raise ValueError(f"a narrow engine's direction must be 'both' or 'encrypt', not {direction!r}")
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
    latency = property(lambda self: _PHASES * self._rounds + 2 + self._prologue,
                       doc="Cycles from acceptance to output.")
    interval = property(lambda self: _PHASES * self._rounds + 2 + self._prologue,
                        doc="Cycles between back-to-back blocks.")

    @property
    def _prologue(self):
        # AES-256 decryption first turns its key window by half (see ``elaborate``); an engine
        # that may decrypt spends those cycles on every block, so that a block's time is one
        # number.
        return 4 if self._both and self._key_bits == 256 else 0

    def elaborate(self, platform):
        m = Module()
        rounds = self._rounds
        words = self._key_bits // 32

        # --- Control -------------------------------------------------------------------------
        busy = Signal()                           # rounds in progress
        turning = Signal() if self._prologue else Const(0)   # AES-256: see the key window
        turn_count = Signal(2) if self._prologue else None
        finishing = Signal()                      # the last column's write-back cycle
        done = Signal()                           # the result is offered
        phase = Signal(range(_PHASES))
        round_index = Signal(range(1, rounds + 1), init=1)   # k, 1 .. Nr
        decrypt = Signal() if self._both else False
        tagged = has_tag(self._tag_shape)
        tag = Signal(self._tag_shape) if tagged else None

        accept = Signal()
        m.d.comb += [
            self.o.valid.eq(done),
            self.i.ready.eq(~busy & ~turning & ~finishing & (~done | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
        ]
        key_phase = wire(m, busy & (phase == 0), "key_phase")
        data_phase = wire(m, busy & (phase != 0) & (phase != 5), "data_phase")
        first_word = wire(m, busy & (phase == 1), "first_word")     # the round's SubWord arrives
        last_round = wire(m, round_index == rounds, "last_round")

        with m.If(accept):
            m.d.sync += [phase.eq(0), round_index.eq(1)]
            if self._prologue:
                m.d.sync += [turning.eq(1), turn_count.eq(0)]
            else:
                m.d.sync += busy.eq(1)
            if self._both:
                m.d.sync += decrypt.eq(self.i.payload.decrypt)
            if tagged:
                m.d.sync += tag.eq(self.i.payload.tag)
        if self._prologue:
            with m.Elif(turning):
                m.d.sync += turn_count.eq(turn_count + 1)
                with m.If(turn_count == 3):
                    m.d.sync += [turning.eq(0), busy.eq(1)]
        with m.Elif(busy):
            with m.If(phase == _PHASES - 1):
                m.d.sync += phase.eq(0)
                with m.If(last_round):
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += round_index.eq(round_index + 1)
            with m.Else():
                m.d.sync += phase.eq(phase + 1)
        m.d.sync += finishing.eq(busy & (phase == _PHASES - 1) & last_round)
        with m.If(finishing):
            m.d.sync += done.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += done.eq(0)

        # Per-round key-schedule constants for the round's first key word, by {decrypt, round}.
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

        # --- The four S-box ROMs ---------------------------------------------------------------
        rom_in = [Signal(8, name=f"rom_in_{n}") for n in range(4)]
        rom_out = []
        for lane, byte in enumerate(rom_in):
            rom = sbox_rom(inverse_too=self._both, rom_style=self._rom_style)
            m.submodules[f"sbox_{lane}"] = rom
            port = rom.read_port()
            # The key schedule always looks up the forward S-box.
            m.d.comb += port.addr.eq(Cat(byte, decrypt & ~key_phase) if self._both else byte)
            rom_out.append(port.data)
        substituted = wire(m, Cat(*rom_out), "substituted")

        # --- Key window --------------------------------------------------------------------
        # A shift register of key words, one step a data cycle: word 0 leaves, the new word
        # enters at the top. The word a column adds is always window word 3 (see the README).
        # Encryption holds w[i-Nk .. i-1] (AES-256 starts at rk0 ‖ rk1 as given) and makes
        # w[i] = w[i-Nk] ^ g(w[i-1]). Decryption runs the schedule backward in ascending word
        # order: w[j] = w[j+Nk] ^ w[j+Nk-1] needs a word that has just left, so it is kept in
        # ``departed``; AES-256 holds its two round keys newer first (rk_{m+1} ‖ rk_m), so the
        # decryption key rk13 ‖ rk14 is loaded as given and turned by four words before round 1
        # (four cycles; a multiplexer choosing the load order would cost a LUT per window bit).
        # Data registers need no reset: every block loads them when it is taken.
        window = [Signal(32, name=f"window_{n}", reset_less=True) for n in range(words)]
        departed = Signal(32, name="departed", reset_less=True) if self._both else None
        newest = window[words - 1]

        rotated = Cat(*split_bytes(substituted)[1:], substituted[:8]) ^ rcon
        # AES-128 rotates in every step; AES-256 in every other one.
        f_word = wire(m, rotated if words == 4 else Mux(rotate, rotated, substituted), "key_f")
        if self._both:
            partner = wire(m, Mux(decrypt, departed, newest), "key_partner")
        else:
            partner = newest
        step = Mux(first_word, f_word, partner)
        if self._prologue:
            step = Mux(turning, 0, step)        # turning: the leaving word comes back in
        produced = wire(m, window[0] ^ step, "key_produced")

        request = self.i.payload
        request_decrypt = request.decrypt if self._both else False
        key_words = split_words(request.key)
        shift = data_phase
        if self._prologue:
            shift = data_phase | (turning & decrypt)
        with m.If(accept):
            m.d.sync += [window[n].eq(key_words[n]) for n in range(words)]
        with m.Elif(shift):
            m.d.sync += [window[n].eq(window[n + 1]) for n in range(words - 1)]
            m.d.sync += newest.eq(produced)
            if self._both:
                m.d.sync += departed.eq(window[0])

        # The word phase 0 looks up: w[i-1] forward; backward, AES-128's window does not hold
        # the word it needs (w[4m+3] = w[4m+7] ^ w[4m+6]), AES-256's does (its window word 7).
        if self._both and words == 4:
            lookup = wire(m, newest ^ Mux(decrypt, window[2], 0), "key_lookup")
        else:
            lookup = newest
        round_key_word = window[3]

        # --- State, held skewed ----------------------------------------------------------------
        # state[r][j]: row r, slot j. Column t of round k reads row r's byte from slot
        # (t + k * r * d) mod 4 (d = +1 to encrypt, -1 to decrypt), which is ShiftRows
        # (InvShiftRows) of the state as it was before round k, and writes row r of its result
        # back to that slot, which no later column of the round reads. After round k, row r
        # is thus rotated by k * r * d; after Nr rounds (10 or 14), by 2r whichever the direction.
        state = [[Signal(8, name=f"state_{r}_{j}", reset_less=True) for j in range(4)] for r in range(4)]
        column = wire(m, (phase - 1)[:2], "column")
        k = round_index[:2]
        if self._both:
            forward = wire(m, Mux(decrypt, -k, k)[:2], "skew_forward")
            backward = wire(m, Mux(decrypt, k, -k)[:2], "skew_backward")
        else:
            forward = wire(m, k, "skew_forward")
            backward = wire(m, (-k)[:2], "skew_backward")
        offsets = [Const(0, 2), forward, Cat(Const(0, 1), k[0]), backward]
        read_slot = [wire(m, (column + offsets[r])[:2], f"read_slot_{r}") for r in range(4)]
        taps = [Mux(read_slot[r][1], Mux(read_slot[r][0], state[r][3], state[r][2]),
                    Mux(read_slot[r][0], state[r][1], state[r][0])) for r in range(4)]

        with m.If(key_phase):
            m.d.comb += Cat(*rom_in).eq(lookup)
        with m.Else():
            m.d.comb += [rom_in[r].eq(taps[r]) for r in range(4)]

        # The column looked up last cycle is mixed, then registered, then written back.
        mixing = Signal()
        mixing_final = Signal()
        mixing_slot = [Signal(2, name=f"mixing_slot_{r}") for r in range(4)]
        m.d.sync += [mixing.eq(data_phase), mixing_final.eq(last_round)]
        m.d.sync += [mixing_slot[r].eq(read_slot[r]) for r in range(4)]
        write = Signal()
        write_slot = [Signal(2, name=f"write_slot_{r}") for r in range(4)]
        m.d.sync += [write.eq(mixing)]
        m.d.sync += [write_slot[r].eq(mixing_slot[r]) for r in range(4)]
        write_final = mixing_final

        result = self._column_after_sbox(m, substituted, round_key_word, decrypt=decrypt,
                                         final=write_final)
        result_reg = Signal(32, name="result", reset_less=True)
        m.d.sync += result_reg.eq(result)
        result_bytes = split_bytes(result_reg)

        whitened = wire(m, request.block ^ initial_round_key(request.key, decrypt=request_decrypt),
                        "whitened")
        whitened_bytes = split_bytes(whitened)
        for r in range(4):
            for j in range(4):
                with m.If(accept):
                    m.d.sync += state[r][j].eq(whitened_bytes[r + 4 * j])
                with m.Elif(write & (write_slot[r] == j)):
                    m.d.sync += state[r][j].eq(result_bytes[r])

        # Undo the final skew of 2r on the way out: plain wiring.
        m.d.comb += self.o.payload.block.eq(
            Cat(*(state[r][(c + 2 * r) % 4] for c in range(4) for r in range(4))))
        if tagged:
            m.d.comb += self.o.payload.tag.eq(tag)
        return m

    def _column_after_sbox(self, m, substituted, round_key_word, *, decrypt, final):
        """The rest of a round for one column, from its four S-box outputs to the new column.

        Encrypt: ``MixColumn(sub) ^ rk``; decrypt: ``InvMixColumn(sub ^ rk)``; the final round
        ``sub ^ rk`` either way (ShiftRows was the choice of bytes). Both directions share one
        MixColumn network, as in ``ops.round_after_sbox``.
        """
        if not self._both:
            mixed = wire(m, Cat(*mix_column(split_bytes(substituted))), "mixed")
            return wire(m, Mux(final, substituted, mixed) ^ round_key_word, "column_result")
        # Written as gated terms rather than multiplexers, which maps to fewer LUTs: the final
        # round gates the pre-step and the mix off, so that the column passes through as keyed.
        keyed = wire(m, substituted ^ Mux(decrypt | final, round_key_word, 0), "keyed")
        a = split_bytes(keyed)
        pre_on = decrypt & ~final
        u = [wire(m, Mux(pre_on, xtime(xtime(wire(m, a[i] ^ a[i + 2], f"pre_sum_{i}"))), 0),
                  f"pre_term_{i}") for i in range(2)]
        mix_in = wire(m, Cat(*(a[i] ^ u[i % 2] for i in range(4))), "mix_in")
        b = split_bytes(mix_in)
        total = wire(m, b[0] ^ b[1] ^ b[2] ^ b[3], "mix_total")
        mix_term = wire(m, Cat(*(total ^ xtime(b[i] ^ b[(i + 1) % 4]) for i in range(4))),
                        "mix_term")
        return wire(m, mix_in ^ Mux(final, 0, mix_term) ^ Mux(decrypt | final, 0, round_key_word),
                    "column_result")
