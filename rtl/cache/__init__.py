"""The ASID-tagged write-back cache. See ``rtl/cache/README.md``."""

from .cache import WriteBackCache, check_geometry
from .regmap import CACHE_REGISTERS, CacheOp

__all__ = ["WriteBackCache", "check_geometry", "CACHE_REGISTERS", "CacheOp"]
