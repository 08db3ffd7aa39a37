"""AES-128/256 engines in three styles, pipelined, compact and narrow, and a farm of compact engines.
See ``rtl/aes/README.md``."""

from .compact import AESCompact
from .farm import AESFarm
from .layouts import aes_request_layout, aes_response_layout
from .narrow import AESNarrow
from .pipelined import AESPipelined

__all__ = ["AESCompact", "AESFarm", "AESNarrow", "AESPipelined", "aes_request_layout", "aes_response_layout"]
