"""Stream payloads of the AES engines. See ``rtl/aes/README.md``."""

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

__all__ = ["aes_request_layout", "aes_response_layout", "has_tag"]


def aes_request_layout(*, key_bits, tag_shape=unsigned(0), runtime_direction=True):
    """One block to transform.

    ``key`` is the cipher key when encrypting and the decryption key (the last Nk words of the
    expanded schedule, see ``sim.model.aes_decryption_key``) when decrypting. ``tag`` is carried
    through unchanged, so a wrapper can keep per-block context (a tweak, markers) beside the data.
    ``decrypt`` exists only on engines built for both directions, ``tag`` only when it has bits
    (a zero-width field would become an illegal ``[-1:0]`` wire in the Verilog).
    """
    fields = {"block": 128, "key": key_bits, **_tag(tag_shape)}
    if runtime_direction:
        fields["decrypt"] = 1
    return data.StructLayout(fields)


def aes_response_layout(*, tag_shape=unsigned(0)):
    return data.StructLayout({"block": 128, **_tag(tag_shape)})


def has_tag(tag_shape):
    return Shape.cast(tag_shape).width > 0


def _tag(tag_shape):
    return {"tag": tag_shape} if has_tag(tag_shape) else {}
