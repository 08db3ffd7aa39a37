"""Stream payloads of the AES engines. See ``rtl/aes/README.md``."""

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from .ops import rounds_for

__all__ = ["aes_request_layout", "aes_response_layout", "round_key_write_signature", "has_tag"]


def aes_request_layout(*, key_bits, tag_shape=unsigned(0), runtime_direction=True, key_slots=None):
    """One block to transform.

    ``key`` is the cipher key when encrypting and the decryption key (the last Nk words of the
    expanded schedule, see ``sim.model.aes_decryption_key``) when decrypting; an engine with
    ``key_slots`` takes ``slot`` instead, the slot of its round-key tables to use. ``tag`` is
    carried through unchanged, so a wrapper can keep per-block context (a tweak, markers) beside
    the data. ``decrypt`` exists only on engines built for both directions, ``tag`` only when it
    has bits (a zero-width field would become an illegal ``[-1:0]`` wire in the Verilog).
    """
    key = {"key": key_bits} if key_slots is None else {"slot": range(key_slots)}
    fields = {"block": 128, **key, **_tag(tag_shape)}
    if runtime_direction:
        fields["decrypt"] = 1
    return data.StructLayout(fields)


def aes_response_layout(*, tag_shape=unsigned(0)):
    return data.StructLayout({"block": 128, **_tag(tag_shape)})


def round_key_write_signature(*, key_bits, slots):
    """Writes into an engine's round-key tables, from the writer's side: while ``en``, round key
    ``round`` (0 .. Nr, FIPS-197 numbering, whatever the engine's direction) of ``slot`` becomes
    ``key``, or, with ``clear``, every round key of ``slot`` becomes zero."""
    return wiring.Signature({
        "en": Out(1), "slot": Out(range(slots)), "round": Out(range(rounds_for(key_bits) + 1)),
        "clear": Out(1), "key": Out(128),
    })


def has_tag(tag_shape):
    return Shape.cast(tag_shape).width > 0


def _tag(tag_shape):
    return {"tag": tag_shape} if has_tag(tag_shape) else {}
