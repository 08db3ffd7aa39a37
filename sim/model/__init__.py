"""The golden software models of sevlab: the one reference every RTL and co-simulation test compares
with. This package holds AES (through `cryptography`, plus a FIPS-197 key expansion), whole-block
XTS-AES, and loaders for the published NIST, IEEE and FIPS vectors they are checked against. See
``sim/model/README.md``.
"""

__all__ = [
    "AESAVS_FILES",
    "FIPS197_EXAMPLES",
    "IEEE1619_VECTORS",
    "INV_SBOX",
    "SBOX",
    "XTS_TWEAK_FORMS",
    "AESVector",
    "XTSVector",
    "aes_decrypt_block",
    "aes_decryption_key",
    "aes_encrypt_block",
    "aes_round_keys",
    "load_aesavs",
    "load_xts",
    "mul_alpha",
    "vector_file",
    "xts_decrypt",
    "xts_encrypt",
    "xts_tweaks",
]

from .aes import (
    INV_SBOX,
    SBOX,
    aes_decrypt_block,
    aes_decryption_key,
    aes_encrypt_block,
    aes_round_keys,
)
from .vectors import (
    AESAVS_FILES,
    FIPS197_EXAMPLES,
    IEEE1619_VECTORS,
    XTS_TWEAK_FORMS,
    AESVector,
    XTSVector,
    load_aesavs,
    load_xts,
    vector_file,
)
from .xts import mul_alpha, xts_decrypt, xts_encrypt, xts_tweaks
