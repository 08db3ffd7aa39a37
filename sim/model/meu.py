"""Golden model of the memory encryption unit: which key a request uses, and what DRAM holds.

Line granularity: a request names a 64-byte line by its physical address (with the C-bit) and
the requester's ASID. The model decides the route (bypass, encrypt with slot *n*, or error),
strips the C-bit, and keeps DRAM as the unit leaves it: ciphertext for encrypted lines, the
written bytes for bypassed ones. See ``sim/model/README.md`` and ``rtl/meu/README.md``.
"""

__all__ = ["LINE_BYTES", "Route", "UnitModel", "line_tweak", "route"]

from dataclasses import dataclass

from ...rtl.keyslots.regmap import KEY_WORDS, KEYSLOT_REGISTERS, KeyOp
from ...rtl.meu.regmap import COUNTERS, KEYSLOT_WINDOW, MEU_REGISTERS, MEU_WINDOW
from .xts import xts_decrypt, xts_encrypt

LINE_BYTES = 64
_ALL_BYTES = (1 << LINE_BYTES) - 1


def line_tweak(dram_address):
    """The XTS tweak of a line: its DRAM byte address (C-bit removed), 16 bytes little-endian."""
    return dram_address.to_bytes(16, "little")


@dataclass(frozen=True)
class Route:
    """What the unit does with one request.

    ``slot`` is the key slot that encrypts the line, or None for a bypassed line; ``error`` is
    True when the line needs a key its slot does not hold (the request is refused).
    """

    dram_address: int
    slot: int | None
    error: bool


def route(address, asid, *, sme_enable, tsme, cbit_position, valid_slots):
    """Decide a request's route (`rtl/meu/README.md`, "Routing").

    With SME enabled, the C-bit selects slot[ASID] and is removed from the DRAM address; with
    SME disabled it is an ordinary address bit and no line uses slot[ASID]. Under TSME every line
    that would bypass is encrypted with slot 0.
    """
    cbit = 1 << cbit_position
    if sme_enable and address & cbit:
        slot = asid
        dram_address = address & ~cbit
    else:
        slot = 0 if tsme else None
        dram_address = address
    error = slot is not None and slot not in valid_slots
    return Route(dram_address=dram_address, slot=slot, error=error)


class UnitModel:
    """The unit as software sees it: configuration, key slots, DRAM.

    The registers behave as the RTL's do (``csr_read``/``csr_write`` take the unit's CSR word
    addresses), except that a key command completes at once and STATUS always reads idle.

    Parameters
    ----------
    slots : int
        Key slots, ASIDs ``0 .. slots - 1``.
    key_bits : 128 or 256
    cbit_position : int
        Reset value of the C-bit position.
    """

    def __init__(self, *, slots=16, key_bits=128, cbit_position=47, min_sev_asid=1):
        self.slots = slots
        self.min_sev_asid = min_sev_asid
        self.key_bits = key_bits
        self.sme_enable = False
        self.tsme = False
        self.cbit_position = cbit_position
        self._keys = {}          # slot -> key1 ‖ key2
        self.dram = {}           # line DRAM address -> 64 bytes; absent lines read as zeros
        self.lock = False
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._slot_index = 0
        self._staged = {"KEY1": [0] * KEY_WORDS, "KEY2": [0] * KEY_WORDS}
        self._key_error = False

    # Key slots -------------------------------------------------------------------------------
    def install(self, slot, key1, key2):
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot must be in 0..{self.slots - 1}, not {slot!r}")
        if len(key1) != self.key_bits // 8 or len(key2) != self.key_bits // 8:
            raise ValueError(f"keys must be {self.key_bits // 8} bytes each")
        self._keys[slot] = bytes(key1) + bytes(key2)

    def wipe(self, slot):
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot must be in 0..{self.slots - 1}, not {slot!r}")
        self._keys.pop(slot, None)

    def slot_valid(self, slot):
        return slot in self._keys

    # Requests --------------------------------------------------------------------------------
    def route(self, address, asid):
        return route(address, asid, sme_enable=self.sme_enable, tsme=self.tsme,
                     cbit_position=self.cbit_position, valid_slots=self._keys.keys())

    def _line(self, address):
        if address % LINE_BYTES:
            raise ValueError(f"line address must be 64-byte aligned, not {address:#x}")

    def read(self, address, asid):
        """Read a line: ``(ok, data)``; a refused read returns 64 zero bytes."""
        self._line(address)
        r = self.route(address, asid)
        if r.error:
            self.counters["ERR_NO_KEY"] += 1
            return False, bytes(LINE_BYTES)
        stored = self.dram.get(r.dram_address, bytes(LINE_BYTES))
        if r.slot is None:
            self.counters["LINES_BYPASSED"] += 1
            return True, stored
        self.counters["LINES_DECRYPTED"] += 1
        return True, xts_decrypt(self._keys[r.slot], line_tweak(r.dram_address), stored)

    def write(self, address, asid, data, strobe=_ALL_BYTES):
        """Write the bytes of a line selected by ``strobe`` (bit *n* = byte *n*); returns ok.

        A partial write of an encrypted line is a read-modify-write of the plaintext.
        """
        self._line(address)
        if len(data) != LINE_BYTES:
            raise ValueError(f"a line is {LINE_BYTES} bytes, not {len(data)}")
        r = self.route(address, asid)
        if r.error:
            self.counters["ERR_NO_KEY"] += 1
            return False
        key = None if r.slot is None else self._keys[r.slot]
        tweak = line_tweak(r.dram_address)
        old = self.dram.get(r.dram_address, bytes(LINE_BYTES))
        if key is not None and strobe != _ALL_BYTES:
            old = xts_decrypt(key, tweak, old)
            self.counters["LINES_DECRYPTED"] += 1
        merged = bytes(data[n] if strobe >> n & 1 else old[n] for n in range(LINE_BYTES))
        if key is not None:
            merged = xts_encrypt(key, tweak, merged)
            self.counters["LINES_ENCRYPTED"] += 1
        else:
            self.counters["LINES_BYPASSED"] += 1
        self.dram[r.dram_address] = merged
        return True

    # The secure port's registers (rtl/meu/regmap.py, rtl/keyslots/regmap.py) -----------------
    def csr_read(self, address):
        register = self._register(address)
        if register is None:
            return 0
        name = register.name
        if name == "CONFIG":
            return register.encode(sme_enable=int(self.sme_enable), tsme=int(self.tsme),
                                   cbit_position=self.cbit_position, lock=int(self.lock))
        if name == "STATUS":
            return register.encode(idle=1)
        if name == "CPUID_EAX":
            return register.encode(sme=1, sev=1)
        if name == "CPUID_EBX":
            return register.encode(cbit_position=self.cbit_position, pa_reduction=1)
        if name == "CPUID_ECX":
            return register.encode(asids=self.slots - 1)
        if name == "CPUID_EDX":
            return register.encode(min_sev_asid=self.min_sev_asid)
        if name in COUNTERS:
            return self.counters[name] & 0xFFFF_FFFF
        if name == "KEY_SLOT":
            return register.encode(index=self._slot_index)
        if name == "KEY_STATUS":
            return register.encode(slot_valid=int(self.slot_valid(self._slot_index)),
                                   error=int(self._key_error))
        return 0        # write-only registers read as zero

    def csr_write(self, address, value):
        register = self._register(address)
        if register is None:
            return
        name, fields = register.name, register.decode(value)
        if name == "CONFIG" and not self.lock:
            self.sme_enable = bool(fields["sme_enable"])
            self.tsme = bool(fields["tsme"])
            self.cbit_position = fields["cbit_position"]
            self.lock = bool(fields["lock"])
        elif name == "COUNTERS_CLEAR" and fields["clear"]:
            self.counters = dict.fromkeys(COUNTERS, 0)
        elif name == "KEY_SLOT":
            self._slot_index = fields["index"]
        elif name.startswith(("KEY1_", "KEY2_")):
            self._staged[name[:4]][int(name[5:])] = fields["word"]
        elif name == "KEY_COMMAND":
            self._key_command(fields["op"])

    def _key_command(self, op):
        index = self._slot_index
        if op not in (KeyOp.INSTALL, KeyOp.WIPE) or index >= self.slots:
            self._key_error = True
        else:
            self._key_error = False
            if op == KeyOp.INSTALL:
                words = self.key_bits // 32
                key1, key2 = (b"".join(w.to_bytes(4, "little") for w in self._staged[k][:words])
                              for k in ("KEY1", "KEY2"))
                self.install(index, key1, key2)
            else:
                self.wipe(index)
        self._staged = {"KEY1": [0] * KEY_WORDS, "KEY2": [0] * KEY_WORDS}

    def _register(self, address):
        for (base, width), registers in ((MEU_WINDOW, MEU_REGISTERS), (KEYSLOT_WINDOW, KEYSLOT_REGISTERS)):
            if base <= address < base + (1 << width):
                return registers.by_address(address - base)
        return None
