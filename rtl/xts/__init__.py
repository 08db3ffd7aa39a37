"""XTS-AES engines (pipelined and compact) and their key store. See ``rtl/xts/README.md``."""

from .compact import XTSCompact
from .core import ENGINES, XTSCore
from .keystore import XTSKeyStore
from .layouts import xts_install_layout, xts_key_layout, xts_request_layout, xts_response_layout
from .pipelined import XTSPipelined

__all__ = [
    "ENGINES", "XTSCompact", "XTSCore", "XTSKeyStore", "XTSPipelined",
    "xts_install_layout", "xts_key_layout", "xts_request_layout", "xts_response_layout",
]
