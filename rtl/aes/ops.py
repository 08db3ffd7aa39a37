"""Combinational AES transforms on Amaranth values.

A 128-bit block holds byte ``n`` of the FIPS-197 input sequence in bits ``[8n, 8n+8)``, so state byte
``s[r, c]`` is byte ``r + 4c`` and column ``c`` is bits ``[32c, 32c+32)``; a key window holds key
word ``w[i]`` in bits ``[32i, 32i+32)``, its first FIPS byte lowest. This is the order of AXI byte
lanes and of ``int.from_bytes(..., "little")``, so no byte swapping happens anywhere.

``decrypt`` arguments are either a Python ``bool`` (the direction is fixed at elaboration and only
that direction's logic is built) or a 1-bit value (both directions are built and a mux selects).
See ``rtl/aes/README.md`` for how the round and key-schedule steps are split around the S-box ROMs.
"""

from amaranth.hdl import Cat, Const, Mux, Signal

__all__ = [
    "RCON", "split_bytes", "split_words", "shift_rows", "inv_shift_rows", "mix_columns",
    "wire", "sbox_address", "round_after_sbox", "key_sbox_word", "key_step", "round_key",
    "initial_round_key", "select", "rounds_for", "schedule_constants",
]

# Round constants, indexed as in FIPS-197 §5.2 (RCON[1] = 0x01).
RCON = (0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36)


def select(decrypt, if_decrypt, if_encrypt):
    """Pick a direction's value: in Python when the direction is fixed, with a mux when not."""
    if isinstance(decrypt, bool):
        return if_decrypt if decrypt else if_encrypt
    return Mux(decrypt, if_decrypt, if_encrypt)


def split_bytes(value):
    return [value[8 * n:8 * n + 8] for n in range(len(value) // 8)]


def split_words(value):
    return [value[32 * n:32 * n + 32] for n in range(len(value) // 32)]


def shift_rows(block):
    # s'[r, c] = s[r, (c + r) mod 4]: output byte r + 4c comes from input byte r + 4((c + r) mod 4).
    b = split_bytes(block)
    return Cat(*(b[r + 4 * ((c + r) % 4)] for c in range(4) for r in range(4)))


def inv_shift_rows(block):
    b = split_bytes(block)
    return Cat(*(b[r + 4 * ((c - r) % 4)] for c in range(4) for r in range(4)))


def _xtime(byte):
    return Cat(Const(0, 1), byte[:7]) ^ (byte[7].replicate(8) & 0x1B)


def _mix_column(m, a, name):
    total = wire(m, a[0] ^ a[1] ^ a[2] ^ a[3], f"{name}_sum")
    pairs = [wire(m, a[i] ^ a[(i + 1) % 4], f"{name}_pair{i}") for i in range(4)]
    return [a[i] ^ total ^ _xtime(pairs[i]) for i in range(4)]


def _inv_mix_prestep(m, a, name):
    # InvMixColumns = MixColumns after multiplying each column by {04}x^2 + {05} (the Rijndael
    # book's decomposition), so both directions share the MixColumns network.
    u = wire(m, _xtime(wire(m, _xtime(wire(m, a[0] ^ a[2], f"{name}_even")), f"{name}_even2")),
             f"{name}_even4")
    v = wire(m, _xtime(wire(m, _xtime(wire(m, a[1] ^ a[3], f"{name}_odd")), f"{name}_odd2")),
             f"{name}_odd4")
    return [a[0] ^ u, a[1] ^ v, a[2] ^ u, a[3] ^ v]


def mix_columns(m, block, *, decrypt, name):
    """MixColumns when encrypting, InvMixColumns when decrypting."""
    b = split_bytes(block)
    columns = []
    for c in range(4):
        column = b[4 * c:4 * c + 4]
        if decrypt is not False:
            pre = _inv_mix_prestep(m, column, f"{name}_col{c}")
            column = pre if decrypt is True else [Mux(decrypt, p, x) for p, x in zip(pre, column)]
        column = [wire(m, x, f"{name}_col{c}_in{r}") for r, x in enumerate(column)]
        columns += _mix_column(m, column, f"{name}_col{c}")
    return Cat(*columns)


def sbox_address(state, *, decrypt):
    """What a round feeds its S-box ROMs: the state, or InvShiftRows of it when decrypting.

    ShiftRows commutes with SubBytes, so the decrypt direction applies it before the ROM, which
    leaves AddRoundKey and InvMixColumns after the ROM, where encryption has MixColumns.
    """
    return select(decrypt, inv_shift_rows(state), state)


def wire(m, value, name):
    """``value`` as a named comb signal.

    Amaranth does not share a sub-expression used twice: slicing an expression into bytes and
    using each byte a few times would copy it into the netlist for every use, which grows
    exponentially through a round. Every multi-use intermediate goes through a wire.
    """
    signal = Signal(len(value), name=name)
    m.d.comb += signal.eq(value)
    return signal


def round_after_sbox(m, substituted, round_key, *, decrypt, final, name):
    """The rest of a round, from the S-box ROM outputs to the next state.

    Encrypt: ``MixColumns(ShiftRows(sub)) ^ rk`` (no MixColumns in the final round).
    Decrypt: ``InvMixColumns(sub ^ rk)`` (no InvMixColumns in the final round).
    """
    if decrypt is False:
        shifted = shift_rows(substituted)
        mixed = shifted if final else mix_columns(m, wire(m, shifted, f"{name}_shifted"), decrypt=False, name=name)
        return wire(m, mixed ^ round_key, f"{name}_state")
    if decrypt is True:
        keyed = wire(m, substituted ^ round_key, f"{name}_keyed")
        return keyed if final else wire(m, mix_columns(m, keyed, decrypt=True, name=name), f"{name}_state")
    before_mix = wire(m, Mux(decrypt, substituted ^ round_key, shift_rows(substituted)),
                      f"{name}_before_mix")
    if final:
        return wire(m, Mux(decrypt, before_mix, before_mix ^ round_key), f"{name}_state")
    mixed = wire(m, mix_columns(m, before_mix, decrypt=decrypt, name=name), f"{name}_mixed")
    return wire(m, Mux(decrypt, mixed, mixed ^ round_key), f"{name}_state")


def key_sbox_word(window, *, decrypt):
    """The key-window word whose SubWord the next key-schedule step needs.

    Forward: the last word of the window. Backward (decrypt) for AES-128: w3 ^ w2, which is the
    last word of the previous round key; for AES-256: w3, the last word of the older round key.
    """
    w = split_words(window)
    if len(w) == 4:
        return select(decrypt, w[3] ^ w[2], w[3])
    return select(decrypt, w[3], w[7])


def key_step(window, sub_word, *, decrypt, rcon, rotate):
    """One key-schedule step of four words, forward or backward, given ``SubWord`` of
    :func:`key_sbox_word`.

    The window is the whole key for AES-128 (``rk_r``) and two round keys for AES-256
    (``rk_r ‖ rk_r+1``). Forward, it moves one round key on: ``rk_r+1`` (AES-128) or
    ``rk_r+1 ‖ rk_r+2`` (AES-256). Backward, one round key back. ``rcon`` is the 8-bit round
    constant and ``rotate`` says whether this step applies RotWord and rcon (always for AES-128,
    every other step for AES-256); both may be constants or values.
    """
    w = split_words(window)
    if isinstance(rotate, bool):
        f = Cat(sub_word[8:], sub_word[:8]) ^ rcon if rotate else sub_word
    else:
        f = Mux(rotate, Cat(sub_word[8:], sub_word[:8]) ^ rcon, sub_word)
    forward = _forward_step(w, f)
    backward = _backward_step(w, f)
    return select(decrypt, backward, forward) if not isinstance(decrypt, bool) else \
        (backward if decrypt else forward)


def _forward_step(w, f):
    n = len(w)
    new = [w[0] ^ f]
    for j in range(1, 4):
        new.append(w[j] ^ new[j - 1])
    # AES-128: the window becomes the new round key; AES-256: the newer half slides down.
    return Cat(*(w[4:] if n == 8 else []), *new)


def _backward_step(w, f):
    n = len(w)
    newer = w[n - 4:]        # the round key the older one is recovered from
    older = [None] * 4
    for j in range(3, 0, -1):
        older[j] = newer[j] ^ newer[j - 1]
    older[0] = newer[0] ^ f
    # AES-128: the window becomes the older round key; AES-256: it slides up by one round key.
    return Cat(*older, *(w[:4] if n == 8 else []))


def round_key(window, *, decrypt):
    """The round key a round adds, given the window that entered the round.

    AES-256's window already holds it: the newer half when encrypting, the older half when
    decrypting. AES-128 must first step the window: pass the stepped window.
    """
    w = split_words(window)
    if len(w) == 4:
        return window
    return select(decrypt, Cat(*w[:4]), Cat(*w[4:]))


def initial_round_key(window, *, decrypt):
    """The whitening key added before round 1: rk_0 (encrypt) or rk_Nr (decrypt)."""
    w = split_words(window)
    return select(decrypt, Cat(*w[len(w) - 4:]), Cat(*w[:4]))


def rounds_for(key_bits):
    """Nr for a key size (FIPS-197 Figure 4)."""
    if key_bits not in (128, 256):
        raise ValueError(f"AES key size must be 128 or 256 bits, not {key_bits!r}")
    return {128: 10, 256: 14}[key_bits]


def schedule_constants(key_bits, *, decrypt, stage):
    """``(rotate, rcon)`` for the key step of round ``stage`` (1..Nr), per FIPS-197 §5.2.

    The step of round ``stage`` produces the four key words with index ``i`` below; RotWord and
    Rcon[i / Nk] apply when ``i`` is a multiple of Nk, SubWord alone otherwise (AES-256 only).
    """
    rounds = rounds_for(key_bits)
    nk = key_bits // 32
    if nk == 4:
        index = 4 * (rounds - stage + 1) if decrypt else 4 * stage
    else:
        index = 4 * (15 - stage) if decrypt else 4 * (stage + 1)
    if index % nk == 0:
        return True, RCON[index // nk]
    return False, 0
