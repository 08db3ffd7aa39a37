"""Multiplication of an XTS tweak by α. See ``rtl/xts/README.md``."""


__all__ = ["mul_alpha"]


def mul_alpha(tweak):
    """``tweak · α`` in GF(2^128), IEEE 1619 §5.2: the 128-bit little-endian value shifted left one
    bit, with 0x87 folded into the low byte when a bit is shifted out."""
    return ((tweak << 1) ^ ((tweak >> 127) * 0x100000000000000000000000000000087))[:128]
