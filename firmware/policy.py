"""The guest policy: the u32 a guest owner chooses at LAUNCH_START and the firmware enforces for
the guest's whole life (spec §3; ``sev-reference.md`` §6). It travels in plaintext, so the
session's POLICY_MAC and the launch measurement both cover it. See ``firmware/README.md``.
"""

__all__ = [
    "PolicyFlags", "PolicyRule", "GuestPolicy", "policy_word", "api_at_least",
]

import enum
from dataclasses import dataclass

_FLAGS_MASK = 0x0000_003F
_RESERVED_MASK = 0x0000_FFC0
_API_MAJOR_SHIFT = 16
_API_MINOR_SHIFT = 24


class PolicyFlags(enum.IntFlag):
    """Policy bits 5:0 (``sev-reference.md`` §6)."""
    #: DBG_DECRYPT / DBG_ENCRYPT are refused.
    NODBG = 1 << 0
    #: Key sharing with other guests (LAUNCH_START with a non-zero handle) is refused.
    NOKS = 1 << 1
    #: The guest must run as SEV-ES.
    ES = 1 << 2
    #: SEND_* is refused.
    NOSEND = 1 << 3
    #: The guest may be sent only to a platform with the same OCA.
    DOMAIN = 1 << 4
    #: The guest may be sent only to an SEV-capable, AMD-rooted platform.
    SEV = 1 << 5


class PolicyRule(enum.Enum):
    """A rule of LAUNCH_START that a policy can break; the value says it in words. Each one ends
    the command with POLICY_FAILURE."""
    RESERVED_BITS = "reserved policy bits 15:6 must be zero"
    API_VERSION = "the policy's minimum API version is newer than the firmware's"
    ES_UNAVAILABLE = "ES=1 needs a platform initialised with SEV-ES"


def api_at_least(api_major, api_minor, minimum):
    """True when the API version ``api_major.api_minor`` is ``minimum`` (a ``(major, minor)``
    pair) or later. Versions compare as pairs, so 1.0 is later than 0.24."""
    return (api_major, api_minor) >= tuple(minimum)


def policy_word(policy):
    """The policy as the u32 the firmware and the MACs see, from an ``int`` or a
    :class:`GuestPolicy`.

    Raises
    ------
    ValueError
        If the value does not fit a u32.
    TypeError
        If ``policy`` is neither an integer nor a :class:`GuestPolicy`.
    """
    if isinstance(policy, GuestPolicy):
        return policy.to_int()
    if isinstance(policy, bool) or not isinstance(policy, int):
        raise TypeError(f"policy must be an int or a GuestPolicy, not {policy!r}")
    if not 0 <= policy <= 0xFFFF_FFFF:
        raise ValueError(f"policy must fit a u32, not {policy:#x}")
    return int(policy)


@dataclass(frozen=True)
class GuestPolicy:
    """A decoded guest policy.

    ``reserved`` keeps bits 15:6 exactly as found (already in place, not shifted), so that
    ``GuestPolicy.from_int(x).to_int() == x`` for every u32: the MACs cover the word as sent,
    and a firmware that dropped unknown bits would compute a different MAC from the guest owner.
    """
    flags: PolicyFlags = PolicyFlags(0)
    api_major: int = 0
    api_minor: int = 0
    reserved: int = 0

    def __post_init__(self):
        if not isinstance(self.flags, int) or self.flags & ~_FLAGS_MASK:
            raise ValueError(f"policy flags must be bits 5:0, not {self.flags!r}")
        object.__setattr__(self, "flags", PolicyFlags(self.flags))
        for name in ("api_major", "api_minor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"policy {name} must be a u8, not {value!r}")
        if not isinstance(self.reserved, int) or self.reserved & ~_RESERVED_MASK:
            raise ValueError(f"policy reserved bits must lie in 15:6 (mask 0xffc0), not {self.reserved!r}")

    @classmethod
    def from_int(cls, value):
        """Decode a u32 policy word.

        Raises
        ------
        ValueError
            If ``value`` does not fit a u32.
        """
        value = policy_word(value)
        return cls(flags=PolicyFlags(value & _FLAGS_MASK),
                   api_major=(value >> _API_MAJOR_SHIFT) & 0xFF,
                   api_minor=(value >> _API_MINOR_SHIFT) & 0xFF,
                   reserved=value & _RESERVED_MASK)

    def to_int(self):
        """The u32 policy word."""
        return (int(self.flags) | self.reserved
                | self.api_major << _API_MAJOR_SHIFT | self.api_minor << _API_MINOR_SHIFT)

    def __int__(self):
        return self.to_int()

    def to_bytes(self):
        """The policy as the MACs and the measurement take it: a little-endian u32."""
        return self.to_int().to_bytes(4, "little")

    def broken_rule(self, api_major, api_minor, *, es_initialised):
        """The first LAUNCH_START rule this policy breaks on a firmware of API
        ``api_major.api_minor``, or ``None`` if it breaks none.

        Parameters
        ----------
        api_major, api_minor : int
            The firmware's API version (PLATFORM_STATUS).
        es_initialised : bool
            Whether the platform was initialised with SEV-ES enabled (INIT ``flags`` bit 0).

        Notes
        -----
        The rules and their order are the model's choice ([U] in ``sev-reference.md`` §6, §8):
        reserved bits set, then a minimum API newer than the firmware's, then ES on a platform
        without SEV-ES. The policy bits that restrict later commands (NODBG, NOKS, NOSEND,
        DOMAIN, SEV) are checked by those commands, not here.
        """
        if self.reserved:
            return PolicyRule.RESERVED_BITS
        if not api_at_least(api_major, api_minor, (self.api_major, self.api_minor)):
            return PolicyRule.API_VERSION
        if PolicyFlags.ES in self.flags and not es_initialised:
            return PolicyRule.ES_UNAVAILABLE
        return None
