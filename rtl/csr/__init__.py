"""A small CSR layer: registers described once, and the bus bank generated from them.

See ``rtl/csr/README.md``.
"""

from .bank import CSRBank, CSRDecoder, csr_bus_signature
from .registers import DATA_WIDTH, Access, Field, Register, RegisterMap, event_counters

__all__ = ["Access", "CSRBank", "CSRDecoder", "DATA_WIDTH", "Field", "Register", "RegisterMap",
           "csr_bus_signature", "event_counters"]
