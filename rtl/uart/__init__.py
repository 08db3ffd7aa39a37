from .uart import UARTReceiver, UARTTransmitter, divisor_for

__all__ = ["UARTReceiver", "UARTTransmitter", "divisor_for"]
