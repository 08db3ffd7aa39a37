"""Stream payloads of the AES engines. See ``rtl/aes/README.md``."""

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["aes_request_layout", "aes_response_layout"]


def aes_request_layout(*, key_bits, tag_shape=unsigned(0), runtime_direction=True):
    """One block to transform.

    ``key`` is the cipher key when encrypting and the decryption key (the last Nk words of the
    expanded schedule, see ``sim.model.aes_decryption_key``) when decrypting. ``tag`` is carried
    through unchanged, so a wrapper can keep per-block context (a tweak, markers) beside the data.
    ``decrypt`` exists only on engines built for both directions.
    """
    fields = {"block": 128, "key": key_bits, "tag": tag_shape}
    if runtime_direction:
        fields["decrypt"] = 1
    return data.StructLayout(fields)


def aes_response_layout(*, tag_shape=unsigned(0)):
    return data.StructLayout({"block": 128, "tag": tag_shape})
