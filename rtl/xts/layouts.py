"""Stream payloads and the key-store entry of the XTS engines. See ``rtl/xts/README.md``."""

from amaranth.lib import data

__all__ = ["xts_key_layout", "xts_install_layout", "xts_request_layout", "xts_response_layout"]


def xts_key_layout(*, key_bits):
    """One key-store entry: the XTS key pair, plus the start of key1's backward schedule."""
    return data.StructLayout({"key1": key_bits, "key1_decrypt": key_bits, "key2": key_bits})


def xts_install_layout(*, key_bits, slots):
    return data.StructLayout({"slot": range(slots), "key1": key_bits, "key2": key_bits})


def xts_request_layout(*, slots):
    """One 16-byte block of a data unit.

    ``tweak`` (the 16-byte tweak value, little-endian like ``data``), ``key_sel`` and ``decrypt``
    are read from the unit's first beat; later beats must repeat ``key_sel`` and ``decrypt``.
    """
    return data.StructLayout({
        "data": 128, "tweak": 128, "first": 1, "last": 1, "decrypt": 1, "key_sel": range(slots),
    })


def xts_response_layout():
    return data.StructLayout({"data": 128, "first": 1, "last": 1})
