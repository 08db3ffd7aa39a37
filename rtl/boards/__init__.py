from .system import BridgedSystem

__all__ = ["BridgedSystem"]
