"""Golden model of XTS-AES (IEEE Std 1619-2007, NIST SP 800-38E) for whole-block data units, built
block by block on the AES golden model so that every intermediate value (the tweak sequence
``T_j``) is visible to the RTL tests. Ciphertext stealing is not modelled. See
``sim/model/README.md``.
"""

__all__ = [
    "mul_alpha",
    "xts_decrypt",
    "xts_encrypt",
    "xts_tweaks",
]

from .aes import _as_bytes, aes_decrypt_block, aes_encrypt_block

_BLOCK_BYTES = 16
# IEEE 1619 defines XTS-AES-128 and XTS-AES-256 only: key1 and key2 are both AES-128 or both AES-256.
_XTS_KEY_BYTES = (32, 64)
# SP 800-38E §4 caps a data unit at 2^20 AES blocks; a larger request is a caller error, not data.
_MAX_BLOCKS = 1 << 20
# IEEE 1619 §5.2: α is the primitive element x of GF(2^128) mod x^128 + x^7 + x^2 + x + 1; the low
# byte of that polynomial (x^7 + x^2 + x + 1) is what a carry out of bit 127 folds back in.
_REDUCTION = 0x87
_MASK_128 = (1 << 128) - 1


def _check_tweak(tweak):
    tweak = _as_bytes(tweak, "XTS tweak")
    if len(tweak) != _BLOCK_BYTES:
        raise ValueError(f"XTS tweak must be 16 bytes, not {len(tweak)} bytes")
    return tweak


def _split_key(key):
    key = _as_bytes(key, "XTS key")
    if len(key) not in _XTS_KEY_BYTES:
        raise ValueError(
            "XTS key must be key1‖key2, 32 bytes (XTS-AES-128) or 64 bytes (XTS-AES-256), "
            f"not {len(key)} bytes"
        )
    half = len(key) // 2
    return key[:half], key[half:]


def _check_data_unit(data):
    data = _as_bytes(data, "XTS data unit")
    if len(data) == 0 or len(data) % _BLOCK_BYTES:
        raise ValueError(
            "XTS data unit must be a multiple of 16 bytes and at least one block "
            f"(ciphertext stealing is not modelled), not {len(data)} bytes"
        )
    if len(data) // _BLOCK_BYTES > _MAX_BLOCKS:
        raise ValueError(
            f"XTS data unit must be at most 2^20 blocks (SP 800-38E), not {len(data) // _BLOCK_BYTES} blocks"
        )
    return data


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def mul_alpha(t: bytes) -> bytes:
    """Multiply a 16-byte XTS tweak by the primitive element α of GF(2^128) (IEEE 1619 §5.2).

    IEEE 1619 reads the 16 bytes as a little-endian 128-bit integer (byte 0 holds bits 0..7), so the
    multiplication is a one-bit left shift of that integer, with ``0x87`` xored into byte 0 when a
    bit is carried out of bit 127.

    Parameters
    ----------
    t : bytes
        The 16-byte tweak ``T_j``.

    Returns
    -------
    bytes
        The 16-byte tweak ``T_j · α``.

    Raises
    ------
    TypeError
        If ``t`` is not bytes-like.
    ValueError
        If ``t`` is not 16 bytes.
    """
    t = _as_bytes(t, "XTS tweak")
    if len(t) != _BLOCK_BYTES:
        raise ValueError(f"XTS tweak must be 16 bytes, not {len(t)} bytes")
    value = int.from_bytes(t, "little") << 1
    if value >> 128:
        value = (value & _MASK_128) ^ _REDUCTION
    return value.to_bytes(_BLOCK_BYTES, "little")


def xts_tweaks(key2: bytes, tweak: bytes, blocks: int) -> list[bytes]:
    """Return the per-block tweaks ``T_j = AES-enc(key2, tweak) · α^j`` of one data unit.

    Parameters
    ----------
    key2 : bytes
        The tweak key (the second half of the XTS key): 16 or 32 bytes.
    tweak : bytes
        The 16-byte tweak value ``i`` of the data unit (for a data unit sequence number ``n``,
        ``n.to_bytes(16, "little")``).
    blocks : int
        How many tweaks to return, ``1 <= blocks <= 2**20``.

    Returns
    -------
    list of bytes
        ``blocks`` tweaks of 16 bytes, ``T_0`` first.

    Raises
    ------
    TypeError
        If ``key2`` or ``tweak`` is not bytes-like, or ``blocks`` is not an int.
    ValueError
        If ``key2`` is not 16 or 32 bytes, ``tweak`` is not 16 bytes, or ``blocks`` is out of range.
    """
    key2 = _as_bytes(key2, "XTS key2")
    if len(key2) not in (16, 32):
        raise ValueError(f"XTS key2 must be 16 or 32 bytes, not {len(key2)} bytes")
    tweak = _check_tweak(tweak)
    # bool is an int subclass; True as a block count is almost certainly a bug at the call site.
    if not isinstance(blocks, int) or isinstance(blocks, bool):
        raise TypeError(f"block count must be an int, not {type(blocks).__name__}")
    if not 1 <= blocks <= _MAX_BLOCKS:
        raise ValueError(f"block count must be between 1 and 2^20, not {blocks!r}")
    tweaks = [aes_encrypt_block(key2, tweak)]
    for _ in range(blocks - 1):
        tweaks.append(mul_alpha(tweaks[-1]))
    return tweaks


def xts_encrypt(key: bytes, tweak: bytes, data: bytes) -> bytes:
    """Encrypt one data unit with XTS-AES (IEEE 1619 §5.3, SP 800-38E), whole blocks only.

    ``C_j = AES-enc(key1, P_j ⊕ T_j) ⊕ T_j`` for each 16-byte block ``j``. ``key1 == key2`` is
    accepted: IEEE 1619 Annex B vector 1 uses it, and refusing equal halves is a policy for the
    key-loading path, not part of the transform.

    Parameters
    ----------
    key : bytes
        ``key1‖key2``: 32 bytes (XTS-AES-128) or 64 bytes (XTS-AES-256). ``key1`` encrypts the data,
        ``key2`` the tweak.
    tweak : bytes
        The 16-byte tweak value, with the meaning of ``cryptography``'s ``modes.XTS(tweak)`` and of
        ``i`` in the NIST XTSVS files.
    data : bytes
        The plaintext data unit, a whole number (at least 1, at most 2^20) of 16-byte blocks.

    Returns
    -------
    bytes
        The ciphertext, as long as ``data``.

    Raises
    ------
    TypeError
        If an argument is not bytes-like.
    ValueError
        If ``key`` is not 32 or 64 bytes, ``tweak`` is not 16 bytes, or ``data`` is not a whole
        number of 16-byte blocks (ciphertext stealing is not modelled) or is too long.
    """
    return _xts(key, tweak, data, aes_encrypt_block)


def xts_decrypt(key: bytes, tweak: bytes, data: bytes) -> bytes:
    """Decrypt one data unit with XTS-AES (IEEE 1619 §5.4, SP 800-38E), whole blocks only.

    ``P_j = AES-dec(key1, C_j ⊕ T_j) ⊕ T_j``; the tweaks are computed with AES *encryption* under
    ``key2`` in both directions.

    Parameters
    ----------
    key : bytes
        ``key1‖key2``: 32 bytes (XTS-AES-128) or 64 bytes (XTS-AES-256).
    tweak : bytes
        The 16-byte tweak value (see `xts_encrypt`).
    data : bytes
        The ciphertext data unit, a whole number (at least 1, at most 2^20) of 16-byte blocks.

    Returns
    -------
    bytes
        The plaintext, as long as ``data``.

    Raises
    ------
    TypeError
        If an argument is not bytes-like.
    ValueError
        If ``key`` is not 32 or 64 bytes, ``tweak`` is not 16 bytes, or ``data`` is not a whole
        number of 16-byte blocks (ciphertext stealing is not modelled) or is too long.
    """
    return _xts(key, tweak, data, aes_decrypt_block)


def _xts(key, tweak, data, block_cipher):
    key1, key2 = _split_key(key)
    tweak = _check_tweak(tweak)
    data = _check_data_unit(data)
    tweaks = xts_tweaks(key2, tweak, len(data) // _BLOCK_BYTES)
    out = bytearray()
    for j, t in enumerate(tweaks):
        block = data[_BLOCK_BYTES * j : _BLOCK_BYTES * (j + 1)]
        out += _xor(block_cipher(key1, _xor(block, t)), t)
    return bytes(out)
