from .axi_ram import AXIBlockRAM

__all__ = ["AXIBlockRAM"]
