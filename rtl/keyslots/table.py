"""The key-slot table: one XTS key pair per ASID, written only through the secure port.

See ``rtl/keyslots/README.md`` for the command sequence and the security countermeasures.
"""

from amaranth.hdl import Signal, Module, Cat
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..aes.expander import AESKeyExpander
from ..csr import CSRBank, csr_bus_signature
from ..xts.layouts import xts_key_layout
from .regmap import KEYSLOT_REGISTERS, KeyOp, KEY_WORDS, SLOT_INDEX_BITS

__all__ = ["KeySlotTable"]


class KeySlotTable(wiring.Component):
    """XTS key pairs indexed by ASID, each with a valid bit, behind a write-only register port.

    A command (install or wipe) first asks the unit to quiesce (``quiesce_request``) and changes
    the slot only while ``quiesce_grant`` is high, that is, while no request is in flight and
    none is admitted. So every request sees a slot entirely before or entirely after a command.

    Parameters
    ----------
    key_bits : 128 or 256
    slots : int
        Number of slots, ASIDs ``0 .. slots - 1``; slot 0 holds the host (SME) key.
    read_ports : int
        Number of ``key_read`` ports (one per cipher path of the unit).

    Members
    -------
    csr : In(csr_bus_signature(...))
        The secure port.
    key_read : Out(ReadPort.Signature(...)).array(read_ports)
        Cipher-side reads of whole entries; no other path reads the key memory.
    valid : Out(slots)
        Valid bit per slot.
    quiesce_request : Out(1)
    quiesce_grant : In(1)
    """

    def __init__(self, *, key_bits=128, slots=16, read_ports=1):
        if key_bits not in (128, 256):
            raise ValueError(f"Key slots hold AES-128 or AES-256 key pairs, not key_bits={key_bits!r}")
        if not isinstance(slots, int) or not 2 <= slots <= (1 << SLOT_INDEX_BITS):
            raise ValueError(f"Slot count must be an integer in 2..{1 << SLOT_INDEX_BITS}, not {slots!r}")
        self._key_bits = key_bits
        self._slots = slots
        self._bank = CSRBank(KEYSLOT_REGISTERS)
        self._entry = xts_key_layout(key_bits=key_bits)
        self._memory = Memory(shape=self._entry, depth=slots, init=[])
        super().__init__({
            "csr": In(csr_bus_signature(KEYSLOT_REGISTERS.address_width)),
            "key_read": Out(ReadPort.Signature(addr_width=ceil_log2(slots),
                                              shape=self._entry)).array(read_ports),
            "valid": Out(slots),
            "quiesce_request": Out(1),
            "quiesce_grant": In(1),
        })

    key_bits = property(lambda self: self._key_bits)
    slots = property(lambda self: self._slots)
    memory = property(lambda self: self._memory, doc="The key memory (for white-box tests).")

    def elaborate(self, platform):
        m = Module()
        m.submodules.bank = bank = self._bank
        wiring.connect(m, wiring.flipped(self.csr), bank.bus)

        # SEC_CM: KEYSLOTS.KEY.SW_UNREADABLE
        # The key memory has a write port and the cipher's read ports, nothing else: no register
        # reads it, and the staged key words are write-only (they read as 0).
        m.submodules.memory = memory = self._memory
        write = memory.write_port()
        for port in self.key_read:
            read = memory.read_port()
            m.d.comb += [read.addr.eq(port.addr), read.en.eq(port.en), port.data.eq(read.data)]

        words = self._key_bits // 32
        staged_key1 = [Signal(32, name=f"staged_key1_{n}") for n in range(words)]
        staged_key2 = [Signal(32, name=f"staged_key2_{n}") for n in range(words)]
        clear_staging = Signal()
        fsm_idle = Signal()
        for n in range(KEY_WORDS):
            for name, staged in (("KEY1", staged_key1), ("KEY2", staged_key2)):
                if n < words:
                    port = bank.field(f"{name}_{n}", "word")
                    # Staged words are frozen while a command uses them.
                    with m.If(port.w_stb & fsm_idle):
                        m.d.sync += staged[n].eq(port.w_data)
        # SEC_CM: KEYSLOTS.STAGING.CLEAR
        # The staged words are zeroed when a command finishes, so no key lingers outside the slots.
        with m.If(clear_staging):
            m.d.sync += [word.eq(0) for word in staged_key1 + staged_key2]

        slot_index = bank.field("KEY_SLOT", "index").data
        command = bank.field("KEY_COMMAND", "op")
        status_busy = bank.field("KEY_STATUS", "busy")
        status_valid = bank.field("KEY_STATUS", "slot_valid")
        status_error = bank.field("KEY_STATUS", "error")
        m.d.comb += status_valid.r_data.eq(
            (slot_index < self._slots) & self.valid.bit_select(slot_index[:ceil_log2(self._slots)], 1))

        m.submodules.expander = expander = AESKeyExpander(key_bits=self._key_bits)
        target = Signal(range(self._slots))
        installing = Signal()
        decryption_key = Signal(self._key_bits)
        error = Signal()
        m.d.comb += status_error.r_data.eq(error)

        with m.FSM(name="command") as fsm:
            with m.State("IDLE"):
                with m.If(command.w_stb):
                    known = (command.w_data == KeyOp.INSTALL) | (command.w_data == KeyOp.WIPE)
                    with m.If(known & (slot_index < self._slots)):
                        m.d.sync += [
                            error.eq(0),
                            target.eq(slot_index),
                            installing.eq(command.w_data == KeyOp.INSTALL),
                        ]
                        with m.If(command.w_data == KeyOp.INSTALL):
                            m.next = "EXPAND"
                        with m.Else():
                            m.next = "QUIESCE"
                    with m.Else():
                        m.d.sync += error.eq(1)
                        m.d.comb += clear_staging.eq(1)
            with m.State("EXPAND"):
                # The unit keeps running while key1's decryption key is computed (10 or 13 cycles).
                m.d.comb += [
                    expander.i.valid.eq(1),
                    expander.i.payload.key.eq(Cat(*staged_key1)),
                ]
                with m.If(expander.i.ready):
                    m.next = "EXPANDING"
            with m.State("EXPANDING"):
                m.d.comb += expander.o.ready.eq(1)
                with m.If(expander.o.valid):
                    m.d.sync += decryption_key.eq(expander.o.payload.decryption_key)
                    m.next = "QUIESCE"
            with m.State("QUIESCE"):
                m.d.comb += self.quiesce_request.eq(1)
                with m.If(self.quiesce_grant):
                    # SEC_CM: KEYSLOTS.KEY.WIPE
                    # A wipe writes zeros over the whole entry (key1, its decryption key, key2).
                    m.d.comb += [
                        write.en.eq(1),
                        write.addr.eq(target),
                        clear_staging.eq(1),
                    ]
                    with m.If(installing):
                        m.d.comb += [
                            write.data.key1.eq(Cat(*staged_key1)),
                            write.data.key1_decrypt.eq(decryption_key),
                            write.data.key2.eq(Cat(*staged_key2)),
                        ]
                    m.d.sync += [
                        self.valid.bit_select(target, 1).eq(installing),
                        decryption_key.eq(0),
                    ]
                    m.next = "IDLE"
        m.d.comb += fsm_idle.eq(fsm.ongoing("IDLE"))
        busy = ~fsm_idle
        m.d.comb += status_busy.r_data.eq(busy)
        with m.If(command.w_stb & busy):
            m.d.sync += error.eq(1)
        return m
