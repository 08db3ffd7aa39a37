"""Golden model of the AES block cipher (FIPS-197): single-block encryption and decryption through
`cryptography`, plus a from-scratch FIPS-197 key expansion that gives the RTL its round keys and the
"decryption start window" used for on-the-fly reverse key expansion. See ``sim/model/README.md``.
"""

__all__ = [
    "INV_SBOX",
    "SBOX",
    "aes_decrypt_block",
    "aes_decryption_key",
    "aes_encrypt_block",
    "aes_round_keys",
]

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK_BYTES = 16
_KEY_BYTES = (16, 24, 32)

# FIPS-197 §4.2: GF(2^8) with the irreducible polynomial m(x) = x^8 + x^4 + x^3 + x + 1.
_AES_POLYNOMIAL = 0x11B
# FIPS-197 §5.1.1, equation (5.1): the constant c = {63} added by the affine transformation.
_AFFINE_CONSTANT = 0x63


def _gf_mul(a, b):
    """Multiply two elements of GF(2^8) modulo the AES polynomial (FIPS-197 §4.2)."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= _AES_POLYNOMIAL
    return product


def _gf_inverse(a):
    """Return the multiplicative inverse of ``a`` in GF(2^8), with {00} mapped to {00} (§5.1.1)."""
    # The multiplicative group has order 255, so a^254 = a^-1 for every non-zero a; 0^254 = 0 gives
    # the FIPS-197 convention for {00} with no special case.
    result, power, exponent = 1, a, 254
    while exponent:
        if exponent & 1:
            result = _gf_mul(result, power)
        power = _gf_mul(power, power)
        exponent >>= 1
    return result if a else 0


def _affine(b):
    """Apply the FIPS-197 §5.1.1 affine transformation (equation 5.1) to one byte."""
    out = 0
    for i in range(8):
        bit = (
            (b >> i)
            ^ (b >> ((i + 4) % 8))
            ^ (b >> ((i + 5) % 8))
            ^ (b >> ((i + 6) % 8))
            ^ (b >> ((i + 7) % 8))
            ^ (_AFFINE_CONSTANT >> i)
        ) & 1
        out |= bit << i
    return out


def _derive_sboxes():
    # Derived rather than typed in, so a transcription error cannot hide in a 256-entry table.
    sbox = tuple(_affine(_gf_inverse(x)) for x in range(256))
    inv_sbox = [0] * 256
    for x, y in enumerate(sbox):
        inv_sbox[y] = x
    return sbox, tuple(inv_sbox)


# SBOX is FIPS-197 Figure 7 and INV_SBOX Figure 14, each a tuple of 256 ints indexed by the input
# byte, so that INV_SBOX[SBOX[x]] == x.
SBOX, INV_SBOX = _derive_sboxes()


def _as_bytes(value, name):
    """Return ``value`` as ``bytes``; raise TypeError naming ``name`` if it is not bytes-like."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _check_key(key):
    key = _as_bytes(key, "AES key")
    if len(key) not in _KEY_BYTES:
        raise ValueError(f"AES key must be 16, 24 or 32 bytes, not {len(key)} bytes")
    return key


def _check_block(block):
    block = _as_bytes(block, "AES block")
    if len(block) != _BLOCK_BYTES:
        raise ValueError(f"AES block must be 16 bytes, not {len(block)} bytes")
    return block


def aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 16-byte block with AES (FIPS-197 Cipher()).

    Parameters
    ----------
    key : bytes
        The cipher key: 16 bytes (AES-128), 24 bytes (AES-192) or 32 bytes (AES-256).
    block : bytes
        The 16-byte plaintext block, in FIPS-197 byte order (``block[0]`` is ``in0``).

    Returns
    -------
    bytes
        The 16-byte ciphertext block.

    Raises
    ------
    TypeError
        If ``key`` or ``block`` is not bytes-like.
    ValueError
        If ``key`` is not 16, 24 or 32 bytes, or ``block`` is not 16 bytes.
    """
    key, block = _check_key(key), _check_block(block)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def aes_decrypt_block(key: bytes, block: bytes) -> bytes:
    """Decrypt one 16-byte block with AES (FIPS-197 InvCipher()).

    Parameters
    ----------
    key : bytes
        The cipher key (the same key as for encryption, not a decryption schedule): 16, 24 or 32 bytes.
    block : bytes
        The 16-byte ciphertext block.

    Returns
    -------
    bytes
        The 16-byte plaintext block.

    Raises
    ------
    TypeError
        If ``key`` or ``block`` is not bytes-like.
    ValueError
        If ``key`` is not 16, 24 or 32 bytes, or ``block`` is not 16 bytes.
    """
    key, block = _check_key(key), _check_block(block)
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return decryptor.update(block) + decryptor.finalize()


def _key_schedule_words(key):
    """Return the FIPS-197 §5.2 expanded key w[0 .. 4*(Nr+1)-1] as a list of 4-byte ``bytes``."""
    nk = len(key) // 4
    nr = nk + 6
    words = [key[4 * i : 4 * i + 4] for i in range(nk)]
    rcon = 0x01
    for i in range(nk, 4 * (nr + 1)):
        temp = words[i - 1]
        if i % nk == 0:
            rotated = temp[1:] + temp[:1]
            temp = bytes(SBOX[b] for b in rotated)
            # Rcon[i/Nk] = [x^(i/Nk - 1), {00}, {00}, {00}]; stepping by xtime keeps it derived too.
            temp = bytes((temp[0] ^ rcon,)) + temp[1:]
            rcon = _gf_mul(rcon, 0x02)
        elif nk > 6 and i % nk == 4:
            # Only AES-256 applies SubWord() in the middle of each 8-word group (§5.2).
            temp = bytes(SBOX[b] for b in temp)
        words.append(bytes(a ^ b for a, b in zip(words[i - nk], temp)))
    return words


def aes_round_keys(key: bytes) -> list[bytes]:
    """Expand an AES key into its round keys (FIPS-197 §5.2 KeyExpansion()).

    Parameters
    ----------
    key : bytes
        The cipher key: 16, 24 or 32 bytes.

    Returns
    -------
    list of bytes
        ``Nr + 1`` round keys of 16 bytes each (11, 13 or 15): round key ``r`` is the words
        ``w[4r] .. w[4r+3]`` concatenated, so round key 0 is the first 16 bytes of the key.

    Raises
    ------
    TypeError
        If ``key`` is not bytes-like.
    ValueError
        If ``key`` is not 16, 24 or 32 bytes.
    """
    words = _key_schedule_words(_check_key(key))
    return [b"".join(words[i : i + 4]) for i in range(0, len(words), 4)]


def aes_decryption_key(key: bytes) -> bytes:
    """Return the decryption start window for on-the-fly reverse key expansion.

    The key schedule recurrence ``w[i] = w[i-Nk] ^ f(w[i-1])`` can be run backwards from any ``Nk``
    consecutive words, so hardware that decrypts without storing the whole schedule starts from the
    last ``Nk`` words of the expanded key and regenerates the round keys in reverse order.

    Parameters
    ----------
    key : bytes
        The cipher key: 16, 24 or 32 bytes.

    Returns
    -------
    bytes
        The last ``len(key)`` bytes of the expanded key: round key 10 for AES-128 (16 bytes),
        ``w[46..51]`` for AES-192 (24 bytes), round keys 13 and 14 concatenated for AES-256 (32 bytes).

    Raises
    ------
    TypeError
        If ``key`` is not bytes-like.
    ValueError
        If ``key`` is not 16, 24 or 32 bytes.
    """
    key = _check_key(key)
    return b"".join(_key_schedule_words(key))[-len(key) :]
