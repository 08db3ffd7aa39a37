"""AES-128/256 engines in two styles, pipelined and compact, and a farm of compact engines.
See ``rtl/aes/README.md``."""

from .compact import AESCompact
from .farm import AESFarm
from .layouts import aes_request_layout, aes_response_layout
from .pipelined import AESPipelined

__all__ = ["AESCompact", "AESFarm", "AESPipelined", "aes_request_layout", "aes_response_layout"]
