"""Combinational AES transforms on Amaranth values.

A 128-bit block holds byte ``n`` of the FIPS-197 input sequence in bits ``[8n, 8n+8)``, so state byte
``s[r, c]`` is byte ``r + 4c`` and column ``c`` is bits ``[32c, 32c+32)``; a key window holds key
word ``w[i]`` in bits ``[32i, 32i+32)``, its first FIPS byte lowest. This is the order of AXI byte
lanes and of ``int.from_bytes(..., "little")``, so no byte swapping happens anywhere.

``decrypt`` arguments are either a Python ``bool`` (the direction is fixed at elaboration and only
that direction's logic is built) or a 1-bit value (both directions are built and a mux selects).
See ``rtl/aes/README.md`` for how the round and key-schedule steps are split around the S-box ROMs.
"""

from amaranth.hdl import Cat, Mux, Signal

__all__ = [
    "RCON", "split_bytes", "split_words", "shift_rows", "inv_shift_rows", "xtime", "mix_column", "mix_columns",
    "inv_mix_prestep",
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


# The transforms below take and return *lists of 16 byte values*, and callers slice only signals.
# Amaranth shares no sub-expression: a slice of a compound value (a Cat, an XOR) carries the
# whole value into the netlist and into the simulator for every slice taken, which made one
# pipeline's Verilog a hundred megabytes. Permuting Python lists costs nothing.

def shift_rows(b):
    # s'[r, c] = s[r, (c + r) mod 4]: output byte r + 4c comes from input byte r + 4((c + r) mod 4).
    return [b[r + 4 * ((c + r) % 4)] for c in range(4) for r in range(4)]


def inv_shift_rows(b):
    return [b[r + 4 * ((c - r) % 4)] for c in range(4) for r in range(4)]


def xtime(byte):
    # Multiply by x modulo x^8 + x^4 + x^3 + x + 1. Written to use ``byte`` twice, not nine
    # times as bit slicing and replication would (each use is a copy, see above).
    return ((byte << 1) ^ ((byte >> 7) * 0x11B))[:8]


def mix_column(a):
    total = a[0] ^ a[1] ^ a[2] ^ a[3]
    return [a[i] ^ total ^ xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]


def _inv_mix_prestep(a):
    # InvMixColumns = MixColumns after multiplying each column by {04}x^2 + {05} (the Rijndael
    # book's decomposition), so both directions share the MixColumns network.
    u = xtime(xtime(a[0] ^ a[2]))
    v = xtime(xtime(a[1] ^ a[3]))
    return [a[0] ^ u, a[1] ^ v, a[2] ^ u, a[3] ^ v]


def mix_columns(b):
    """MixColumns on a list of 16 bytes, which should be slices of signals (each is used five
    times, and each use is a copy)."""
    return [x for c in range(4) for x in mix_column(b[4 * c:4 * c + 4])]


def inv_mix_prestep(b):
    """The step that turns MixColumns into InvMixColumns, on a list of 16 bytes (slices of
    signals: each is used several times)."""
    return [x for c in range(4) for x in _inv_mix_prestep(b[4 * c:4 * c + 4])]


def wire(m, value, name):
    """``value`` as a named comb signal, so that it can be sliced (see above)."""
    if isinstance(value, Signal):
        return value
    signal = Signal(len(value), name=name)
    m.d.comb += signal.eq(value)
    return signal


def sbox_address(state, *, decrypt):
    """The 16 bytes a round feeds its S-box ROMs, from a state signal: the state, or
    InvShiftRows of it when decrypting.

    ShiftRows commutes with SubBytes, so the decrypt direction applies it before the ROM, which
    leaves AddRoundKey and InvMixColumns after the ROM, where encryption has MixColumns.
    """
    b = split_bytes(state)
    if isinstance(decrypt, bool):
        return inv_shift_rows(b) if decrypt else b
    return [Mux(decrypt, x, y) for x, y in zip(inv_shift_rows(b), b)]


def round_after_sbox(m, substituted, round_key, *, decrypt, final, name):
    """The rest of a round, from the 16 S-box ROM outputs to the next state (a signal).

    Encrypt: ``MixColumns(ShiftRows(sub)) ^ rk`` (no MixColumns in the final round).
    Decrypt: ``InvMixColumns(sub ^ rk)`` (no InvMixColumns in the final round).
    ``round_key`` must be a signal.

    Named signals trade two costs. Each one between a register and the next is one more pass of
    Amaranth's simulator every cycle (a signal written in one pass is read in the next); each
    missing one multiplies the copies of what it would have held. Encryption needs one; the
    inverse mix, whose inputs fan out most, needs one before and one after its pre-step.
    """
    rk = split_bytes(round_key)
    state = lambda value: wire(m, value, f"{name}_state")
    shifted = shift_rows(substituted)
    if decrypt is False:
        mixed = shifted if final else mix_columns(shifted)
        return state(Cat(*(x ^ k for x, k in zip(mixed, rk))))
    if decrypt is True:
        keyed = wire(m, Cat(*substituted) ^ round_key, f"{name}_keyed")
        if final:
            return keyed
        pre = wire(m, Cat(*inv_mix_prestep(split_bytes(keyed))), f"{name}_inv_pre")
        return state(Cat(*mix_columns(split_bytes(pre))))
    # Both directions: AddRoundKey comes before the mix when decrypting, after it when encrypting.
    if final:
        return state(Mux(decrypt, Cat(*substituted), Cat(*shifted)) ^ round_key)
    before_mix = wire(m, Mux(decrypt, Cat(*substituted) ^ round_key, Cat(*shifted)),
                      f"{name}_before_mix")
    b = split_bytes(before_mix)
    mix_in = wire(m, Mux(decrypt, Cat(*inv_mix_prestep(b)), before_mix), f"{name}_mix_in")
    return state(Cat(*mix_columns(split_bytes(mix_in))) ^ Mux(decrypt, 0, round_key))


def key_sbox_word(window, *, decrypt):
    """The key-window word (4 bytes) whose SubWord the next key-schedule step needs.

    Forward: the last word of the window. Backward (decrypt) for AES-128: w3 ^ w2, which is the
    last word of the previous round key; for AES-256: w3, the last word of the older round key.
    """
    w = split_words(window)
    word = select(decrypt, w[3] ^ w[2], w[3]) if len(w) == 4 else select(decrypt, w[3], w[7])
    return split_bytes(word)


def key_step(window, sub_bytes, *, decrypt, rcon, rotate):
    """One key-schedule step of four words, forward or backward, given ``SubWord`` of
    :func:`key_sbox_word` as four byte signals.

    The window is the whole key for AES-128 (``rk_r``) and two round keys for AES-256
    (``rk_r ‖ rk_r+1``). Forward, it moves one round key on: ``rk_r+1`` (AES-128) or
    ``rk_r+1 ‖ rk_r+2`` (AES-256). Backward, one round key back. ``rcon`` is the 8-bit round
    constant and ``rotate`` says whether this step applies RotWord and rcon (always for AES-128,
    every other step for AES-256); both may be constants or values.
    """
    w = split_words(window)
    sub_word = Cat(*sub_bytes)
    rotated = Cat(*sub_bytes[1:], sub_bytes[0]) ^ rcon
    if isinstance(rotate, bool):
        f = rotated if rotate else sub_word
    else:
        f = Mux(rotate, rotated, sub_word)
    if isinstance(decrypt, bool):
        return _backward_step(w, f) if decrypt else _forward_step(w, f)
    return Mux(decrypt, _backward_step(w, f), _forward_step(w, f))


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
