"""AES-128/256 engines in two styles, pipelined and compact. See ``rtl/aes/README.md``."""

from .compact import AESCompact
from .layouts import aes_request_layout, aes_response_layout
from .pipelined import AESPipelined

__all__ = ["AESCompact", "AESPipelined", "aes_request_layout", "aes_response_layout"]
