"""The ASID-tagged write-back cache. See ``rtl/cache/README.md``."""

from .cache import WriteBackCache
from .regmap import CACHE_REGISTERS, CacheOp

__all__ = ["WriteBackCache", "CACHE_REGISTERS", "CacheOp"]
