"""Platform and guest states (spec §5.1.2 and §6.1.1; ``sev-reference.md`` §3, §4).

See ``firmware/README.md``.
"""

import enum

__all__ = ["PlatformState", "GuestState"]


class PlatformState(enum.IntEnum):
    UNINIT = 0
    INIT = 1
    WORKING = 2         # initialised and managing at least one guest


class GuestState(enum.IntEnum):
    UNINIT = 0
    LUPDATE = 1
    LSECRET = 2
    RUNNING = 3
    SUPDATE = 4
    RUPDATE = 5
    SENT = 6
