"""The AES S-box tables and the ROMs that hold them.

The tables are derived here (FIPS-197 §5.1.1: multiplicative inverse in GF(2^8), then the affine
map) rather than typed in, so there is no 256-entry constant to mistype. Every S-box in the RTL is a
:class:`amaranth.lib.memory.Memory` ROM with synchronous read ports: the read register *is* the
pipeline register of a round, block RAM can hold it (``rom_style``: Yosys puts a 256 x 8 ROM in
logic on ECP5 unless asked), and Amaranth simulates and exports it far faster than a case table
(see toolchain.md). See ``rtl/aes/README.md``.
"""

from amaranth.lib.memory import Memory

__all__ = ["SBOX", "INV_SBOX", "ROM_STYLES", "sbox_rom"]

#: Where Yosys may put a ROM: ``None`` lets it choose (on ECP5 it puts a 256 x 8 ROM in logic,
#: on iCE40 in block RAM); "block" and "logic" are Yosys's ``rom_style`` attribute.
ROM_STYLES = (None, "block", "logic")


def _gf_mul(a, b):
    product = 0
    while b:
        if b & 1:
            product ^= a
        a = ((a << 1) ^ 0x11B) if a & 0x80 else (a << 1)
        b >>= 1
    return product


def _substitute(x):
    # x^254 is the multiplicative inverse in GF(2^8) (and maps 0 to 0, as FIPS-197 requires).
    inverse = 1
    for _ in range(254):
        inverse = _gf_mul(inverse, x)
    rotl = lambda v, n: ((v << n) | (v >> (8 - n))) & 0xFF
    return inverse ^ rotl(inverse, 1) ^ rotl(inverse, 2) ^ rotl(inverse, 3) ^ rotl(inverse, 4) ^ 0x63


SBOX = tuple(_substitute(x) for x in range(256))
INV_SBOX = tuple(SBOX.index(y) for y in range(256))


def sbox_rom(*, inverse_too, rom_style=None):
    """A ROM of the forward S-box (256 entries), or of both tables (512 entries).

    With ``inverse_too`` the address is ``{decrypt, byte}``: rows 0–255 hold the S-box and rows
    256–511 its inverse, so an engine that runs both directions needs one ROM per byte, not two.
    ``rom_style`` (one of :data:`ROM_STYLES`) tells Yosys where to map it.
    """
    if rom_style not in ROM_STYLES:
        raise ValueError(f"ROM style must be one of {ROM_STYLES}, not {rom_style!r}")
    table = SBOX + INV_SBOX if inverse_too else SBOX
    return Memory(shape=8, depth=len(table), init=table,
                  attrs={"rom_style": rom_style} if rom_style else {})
