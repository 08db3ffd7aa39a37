"""Where the firmware's (and the guest owner's) randomness comes from.

:class:`Entropy` draws from the operating system's CSPRNG, as real key generation must.
``Entropy(seed=...)`` is a deterministic stream (SHAKE-256 of the seed and a counter) so that a
scenario run twice, or on two backends, makes the same keys and therefore the same ciphertext
in DRAM: the demo and the cross-backend tests use it, and every output that uses it says so.
A seeded stream is not secret and must never make real keys.
"""

import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Entropy"]

_P384_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973


class Entropy:
    """Random bytes and P-384 private keys; seeded (reproducible, not secret) when ``seed`` is
    given."""

    def __init__(self, seed=None):
        self.seed = None if seed is None else hashlib.sha256(str(seed).encode()).digest()
        self._counter = 0

    @property
    def seeded(self):
        return self.seed is not None

    def token_bytes(self, count):
        if self.seed is None:
            return secrets.token_bytes(count)
        self._counter += 1
        return hashlib.shake_256(self.seed + self._counter.to_bytes(8, "little")).digest(count)

    def ec_private_key(self):
        """A P-384 private key."""
        if self.seed is None:
            return ec.generate_private_key(ec.SECP384R1())
        scalar = int.from_bytes(self.token_bytes(64), "big") % (_P384_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP384R1())
