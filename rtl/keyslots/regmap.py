"""The key-slot table's registers on the secure port. See ``rtl/keyslots/README.md``.

Key words are little-endian: ``KEY1_0`` bits 7:0 are byte 0 of key1 (the first byte of the
key as FIPS-197 and the golden model write it). AES-128 uses words 0–3; words 4–7 are then
ignored.
"""

from ..csr import Access, Field, Register, RegisterMap

__all__ = ["KEYSLOT_REGISTERS", "KeyOp", "SLOT_INDEX_BITS", "KEY_WORDS"]

#: Width of KEY_SLOT.index: enough for 1,024 slots (the largest real part has 1,007 ASIDs).
SLOT_INDEX_BITS = 10
#: 32-bit words per staged key (AES-256; AES-128 uses the first four).
KEY_WORDS = 8


class KeyOp:
    """Values of ``KEY_COMMAND.op``."""
    INSTALL = 1
    WIPE = 2


KEYSLOT_REGISTERS = RegisterMap("keyslots", [
    Register("KEY_SLOT", 0x00, (
        Field("index", SLOT_INDEX_BITS, Access.RW, "slot (= ASID) the next command acts on"),
    ), "Slot selector for KEY_COMMAND and KEY_STATUS.slot_valid."),
    Register("KEY_COMMAND", 0x01, (
        Field("op", 2, Access.W, "1: install the staged key pair; 2: wipe (zero the key, clear valid)"),
    ), "Starts a command on KEY_SLOT.index. Refused (KEY_STATUS.error) while busy or for a slot out of range."),
    Register("KEY_STATUS", 0x02, (
        Field("busy", 1, Access.R, "a command is running (waiting for the unit to drain, expanding, writing)"),
        Field("slot_valid", 1, Access.R, "the slot in KEY_SLOT.index holds a key"),
        Field("error", 1, Access.R, "the last command was refused; cleared by the next accepted command"),
    ), "Command status and the valid query."),
    *(Register(f"KEY1_{n}", 0x08 + n, (
        Field("word", 32, Access.W, f"key1 bytes {4 * n}..{4 * n + 3}, write-only"),
    ), f"Staged key1 (data key), word {n}. Reads as 0; cleared after every command.")
      for n in range(KEY_WORDS)),
    *(Register(f"KEY2_{n}", 0x10 + n, (
        Field("word", 32, Access.W, f"key2 bytes {4 * n}..{4 * n + 3}, write-only"),
    ), f"Staged key2 (tweak key), word {n}. Reads as 0; cleared after every command.")
      for n in range(KEY_WORDS)),
])
