"""SEV API status codes (spec §4.4; ``sev-reference.md`` §5) and the error that carries one.

Every command of the firmware model ends with one of these codes, written where the host reads
it; :class:`SEVError` is how the model's code reaches that point from deep inside a command.
See ``firmware/README.md``.
"""

import enum

__all__ = ["Status", "SEVError"]


class Status(enum.IntEnum):
    """The status codes of legacy SEV (SNP-only codes are listed so that they decode)."""
    SUCCESS = 0x00
    INVALID_PLATFORM_STATE = 0x01
    INVALID_GUEST_STATE = 0x02
    INVALID_CONFIG = 0x03
    INVALID_LENGTH = 0x04
    ALREADY_OWNED = 0x05
    INVALID_CERTIFICATE = 0x06
    POLICY_FAILURE = 0x07
    INACTIVE = 0x08
    INVALID_ADDRESS = 0x09
    BAD_SIGNATURE = 0x0A
    BAD_MEASUREMENT = 0x0B
    ASID_OWNED = 0x0C
    INVALID_ASID = 0x0D
    WBINVD_REQUIRED = 0x0E
    DFFLUSH_REQUIRED = 0x0F
    INVALID_GUEST = 0x10
    INVALID_COMMAND = 0x11
    ACTIVE = 0x12
    HWERROR_PLATFORM = 0x13
    HWERROR_UNSAFE = 0x14
    UNSUPPORTED = 0x15
    INVALID_PARAM = 0x16
    RESOURCE_LIMIT = 0x17
    SECURE_DATA_INVALID = 0x18
    INVALID_PAGE_SIZE = 0x19
    INVALID_PAGE_STATE = 0x1A
    INVALID_MDATA_ENTRY = 0x1B
    INVALID_PAGE_OWNER = 0x1C
    AEAD_OFLOW = 0x1D
    RING_BUFFER_EXIT = 0x1F
    RMP_INIT_REQUIRED = 0x20
    BAD_SVN = 0x21
    BAD_VERSION = 0x22
    SHUTDOWN_REQUIRED = 0x23
    UPDATE_FAILED = 0x24
    RESTORE_REQUIRED = 0x25
    RMP_INITIALIZATION_FAILED = 0x26
    INVALID_KEY = 0x27
    SHUTDOWN_INCOMPLETE = 0x28


class SEVError(Exception):
    """A command ends with ``status``; ``detail`` says why, for logs and tests; ``outputs`` are
    buffer fields written back even so (the length a too-small buffer needed)."""

    def __init__(self, status, detail="", *, outputs=None):
        self.status = Status(status)
        self.detail = detail
        self.outputs = dict(outputs or {})
        super().__init__(f"{self.status.name} (0x{self.status:02x})" + (f": {detail}" if detail else ""))
