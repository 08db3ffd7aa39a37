from .bridge import SerialBridge
from .protocol import REQUEST, RESPONSE, UNKNOWN_OP, Op, request_length, response_length

__all__ = ["SerialBridge", "Op", "REQUEST", "RESPONSE", "UNKNOWN_OP", "request_length", "response_length"]
