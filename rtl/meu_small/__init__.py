"""The small memory encryption unit: the large unit's contract, built for small FPGAs.
See ``rtl/meu_small/README.md``."""

from .unit import ENGINES, SmallEncryptionUnit

__all__ = ["ENGINES", "SmallEncryptionUnit"]
