from .axi_ram import STORAGES, AXIBlockRAM
from .spram import ICE40SPRAM

__all__ = ["AXIBlockRAM", "ICE40SPRAM", "STORAGES"]
