"""The key-slot table: one XTS key pair per ASID, written only through the secure port.

See ``rtl/keyslots/README.md`` for the command sequence and the security countermeasures.
"""

from types import SimpleNamespace

from amaranth.hdl import Signal, Module, Cat, C, Const, Mux, ClockDomain, ClockSignal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..aes.expander import AESKeyExpander
from ..aes.layouts import round_key_write_signature
from ..csr import CSRBank, csr_bus_signature
from ..xts.layouts import xts_key_layout
from .regmap import KEYSLOT_REGISTERS, KeyOp, KEY_WORDS, SLOT_INDEX_BITS

__all__ = ["KeySlotTable", "KeyRow", "LAYOUTS"]

#: Key memory layouts: ``"entries"`` (one entry per slot, key1 ‖ key1_decrypt ‖ key2) or
#: ``"rows"`` (one key per row, row ``Cat(which, slot)``; see :class:`KeyRow`).
LAYOUTS = ("entries", "rows")


class KeyRow:
    """``which`` in a ``"rows"`` table's row address ``Cat(which, slot)``."""
    KEY1 = 0            # the data key
    KEY1_DECRYPT = 1    # key1's decryption key (the end of its schedule)
    KEY2 = 2            # the tweak key
    STAGING = 3         # slot 0's: the staged key1 words; slot 1's: the staged key2 words



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
    layout : "entries" or "rows"
        ``"entries"``: one memory entry per slot (``xts_key_layout``: key1, its decryption key,
        key2), read whole. ``"rows"``: one key per row of ``key_bits``, row address
        ``Cat(which, slot)`` (:class:`KeyRow`), so that the keys fit block RAM; the staged key
        words live in the spare rows of slots 0 and 1 instead of flip-flops, and key1's
        decryption key goes from the expander straight into its row. One ``key_read`` port only
        (the table borrows it while the unit is quiesced); a command quiesces the unit for
        its whole run (expansion included, about Nr + 5 cycles).
    round_keys : bool
        ``"entries"`` only: also fill the engines' round-key tables (``AESPipelined(key_slots=...)``)
        with key1's schedule through ``round_keys``, one round key a cycle while the unit is
        quiesced (an install quiesces first and expands then: Nr + 3 cycles held after the drain; a wipe
        clears the slot's round keys with its entry).

    Members
    -------
    csr : In(csr_bus_signature(...))
        The secure port.
    key_read : Out(ReadPort.Signature(...)).array(read_ports)
        Cipher-side reads of whole entries (``"rows"``: of one key, at ``Cat(which, slot)``);
        no other path reads the key memory.
    valid : Out(slots)
        Valid bit per slot.
    quiesce_request : Out(1)
    quiesce_grant : In(1)
    round_keys : Out(round_key_write_signature(...))
        Only with ``round_keys``: writes of key1's round keys into the engines' tables.
    """

    def __init__(self, *, key_bits=128, slots=16, read_ports=1, layout="entries", round_keys=False):
        if layout not in LAYOUTS:
            raise ValueError(f"Key memory layout must be one of {LAYOUTS}, not {layout!r}")
        if round_keys and layout != "entries":
            raise ValueError("Only an 'entries' key table fills round-key tables")
        if layout == "rows" and read_ports != 1:
            raise ValueError(f"A 'rows' key table has one key_read port, not read_ports={read_ports!r}")
        if key_bits not in (128, 256):
            raise ValueError(f"Key slots hold AES-128 or AES-256 key pairs, not key_bits={key_bits!r}")
        if not isinstance(slots, int) or not 2 <= slots <= (1 << SLOT_INDEX_BITS):
            raise ValueError(f"Slot count must be an integer in 2..{1 << SLOT_INDEX_BITS}, not {slots!r}")
        self._key_bits = key_bits
        self._slots = slots
        self._layout = layout
        self._round_keys = round_keys
        self._bank = CSRBank(KEYSLOT_REGISTERS)
        if layout == "entries":
            # With round-key tables, key1 lives there as its schedule: the entry keeps key2.
            self._entry = (data.StructLayout({"key2": key_bits}) if round_keys
                           else xts_key_layout(key_bits=key_bits))
            self._memory = Memory(shape=self._entry, depth=slots, init=[])
            read_address_width = ceil_log2(slots)
        else:
            self._entry = unsigned(key_bits)
            self._memory = Memory(shape=self._entry, depth=4 * slots, init=[])
            read_address_width = 2 + ceil_log2(slots)
        members = {
            "csr": In(csr_bus_signature(KEYSLOT_REGISTERS.address_width)),
            "key_read": Out(ReadPort.Signature(addr_width=read_address_width,
                                              shape=self._entry)).array(read_ports),
            "valid": Out(slots),
            "quiesce_request": Out(1),
            "quiesce_grant": In(1),
        }
        if round_keys:
            members["round_keys"] = Out(round_key_write_signature(key_bits=key_bits, slots=slots))
        super().__init__(members)

    key_bits = property(lambda self: self._key_bits)
    slots = property(lambda self: self._slots)
    layout = property(lambda self: self._layout)
    memory = property(lambda self: self._memory, doc="The key memory (for white-box tests).")

    def row(self, which, slot):
        """A ``"rows"`` table's row index of key ``which`` (:class:`KeyRow`) of ``slot``."""
        return which | slot << 2

    def elaborate(self, platform):
        if self._layout == "rows":
            return self._elaborate_rows()
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

        command = self._command_port(m, bank, fsm_idle)
        m.submodules.expander = expander = AESKeyExpander(key_bits=self._key_bits)
        target, installing = command.target, command.installing

        def write_entry(decryption_key=None):
            # SEC_CM: KEYSLOTS.KEY.WIPE
            # A wipe writes zeros over the whole entry (key1, its decryption key, key2; key2 alone
            # beside round-key tables, whose wipe clears them too).
            m.d.comb += [write.en.eq(1), write.addr.eq(target), clear_staging.eq(1)]
            with m.If(installing):
                m.d.comb += write.data.key2.eq(Cat(*staged_key2))
                if decryption_key is not None:
                    m.d.comb += [write.data.key1.eq(Cat(*staged_key1)), write.data.key1_decrypt.eq(decryption_key)]
            m.d.sync += self.valid.bit_select(target, 1).eq(installing)

        with m.FSM(name="command") as fsm:
            if self._round_keys:
                self._round_key_states(m, command, expander, staged_key1, clear_staging, write_entry)
            else:
                self._expand_then_quiesce_states(m, command, expander, staged_key1, clear_staging,
                                                 write_entry)
        m.d.comb += fsm_idle.eq(fsm.ongoing("IDLE"))
        return m

    def _expand_then_quiesce_states(self, m, command, expander, staged_key1, clear_staging, write_entry):
        """The command FSM's states when the engines expand keys themselves: key1's decryption
        key is computed while the unit runs; the unit is held only for the write."""
        decryption_key = Signal(self._key_bits)
        with m.State("IDLE"):
            with m.If(command.accepted):
                with m.If(command.install):
                    m.next = "EXPAND"
                with m.Else():
                    m.next = "QUIESCE"
            with m.Elif(command.refused):
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
                write_entry(decryption_key)
                m.d.sync += decryption_key.eq(0)
                m.next = "IDLE"

    def _round_key_states(self, m, command, expander, staged_key1, clear_staging, write_entry):
        """The command FSM's states when the table fills the engines' round-key tables: those
        are read by blocks in flight, so the unit is quiesced first and held while key1's
        schedule is written, a round key a cycle as the expander makes it."""
        writes = self.round_keys
        key1 = Cat(*staged_key1)
        m.d.comb += writes.slot.eq(command.target)
        with m.State("IDLE"):
            with m.If(command.accepted):
                m.next = "QUIESCE"
            with m.Elif(command.refused):
                m.d.comb += clear_staging.eq(1)
        with m.State("QUIESCE"):
            m.d.comb += self.quiesce_request.eq(1)
            with m.If(self.quiesce_grant):
                with m.If(command.installing):
                    m.next = "ROUND_KEY_0"
                with m.Else():
                    # SEC_CM: KEYSLOTS.KEY.WIPE
                    # ... and every round key of the slot in the engines' tables.
                    m.d.comb += [writes.en.eq(1), writes.clear.eq(1)]
                    write_entry()
                    m.next = "IDLE"
        # The key itself is round key 0 (AES-256: 0 and 1); the expander makes the rest.
        first_written = ["ROUND_KEY_0"] if self._key_bits == 128 else ["ROUND_KEY_0", "ROUND_KEY_1"]
        for n, state in enumerate(first_written):
            with m.State(state):
                last = n == len(first_written) - 1
                m.d.comb += [
                    self.quiesce_request.eq(1),
                    writes.en.eq(1), writes.round.eq(n), writes.key.eq(key1[128 * n:128 * (n + 1)]),
                ]
                if last:
                    m.d.comb += [expander.i.valid.eq(1), expander.i.payload.key.eq(key1)]
                m.next = "EXPANDING" if last else first_written[n + 1]
        with m.State("EXPANDING"):
            m.d.comb += [
                self.quiesce_request.eq(1),
                expander.o.ready.eq(1),
                writes.en.eq(expander.stepping), writes.round.eq(expander.round),
                writes.key.eq(expander.round_key),
            ]
            with m.If(expander.o.valid):
                write_entry()
                m.next = "IDLE"

    def _command_port(self, m, bank, fsm_idle):
        """KEY_SLOT, KEY_COMMAND and KEY_STATUS, the same for both layouts: a command is accepted
        (its slot and op latched into ``target`` and ``installing``, the error cleared) only
        while the FSM is idle, for a known op and a slot in range; anything else sets the error
        (``refused``: while idle)."""
        slot_index = bank.field("KEY_SLOT", "index").data
        command = bank.field("KEY_COMMAND", "op")
        m.d.comb += bank.field("KEY_STATUS", "slot_valid").r_data.eq(
            (slot_index < self._slots) & self.valid.bit_select(slot_index[:ceil_log2(self._slots)], 1))
        port = SimpleNamespace(target=Signal(range(self._slots)), installing=Signal(), error=Signal(),
                               install=command.w_data == KeyOp.INSTALL, accepted=Signal(), refused=Signal())
        known = (command.w_data == KeyOp.INSTALL) | (command.w_data == KeyOp.WIPE)
        valid = known & (slot_index < self._slots)
        m.d.comb += [
            port.accepted.eq(command.w_stb & fsm_idle & valid),
            port.refused.eq(command.w_stb & fsm_idle & ~valid),
            bank.field("KEY_STATUS", "error").r_data.eq(port.error),
            bank.field("KEY_STATUS", "busy").r_data.eq(~fsm_idle),
        ]
        with m.If(port.accepted):
            m.d.sync += [port.error.eq(0), port.target.eq(slot_index), port.installing.eq(port.install)]
        with m.If(command.w_stb & ~port.accepted):
            m.d.sync += port.error.eq(1)        # refused, or a command while busy
        return port

    def _elaborate_rows(self):
        m = Module()
        m.submodules.bank = bank = self._bank
        wiring.connect(m, wiring.flipped(self.csr), bank.bus)
        key_bits = self._key_bits
        words = key_bits // 32
        slot_bits = ceil_log2(self._slots)

        def row(which, slot):
            return Cat(C(which, 2), slot)

        staging_rows = (row(KeyRow.STAGING, C(0, slot_bits)), row(KeyRow.STAGING, C(1, slot_bits)))

        # SEC_CM: KEYSLOTS.KEY.SW_UNREADABLE
        # The key memory has a write port and one read port, the cipher's, which the table only
        # borrows (to copy the staged keys) while the unit is quiesced: no register reads it.
        m.submodules.memory = memory = self._memory
        # Writes land on the falling edge: the read port (rising edge) and the write port never
        # meet at one row (see below), and on two clock edges Yosys does not wrap the block RAM
        # in read-first logic (~260 flip-flops for 128-bit rows) to define a collision.
        m.domains.key_write = key_write = ClockDomain("key_write", clk_edge="neg", local=True,
                                                     reset_less=True)
        m.d.comb += key_write.clk.eq(ClockSignal("sync"))
        write = memory.write_port(granularity=32, domain="key_write")
        read = memory.read_port()
        (port,) = self.key_read
        own_read = Signal()                 # the table reads (the unit is quiesced)
        own_address = Signal(len(read.addr))
        # The read and the write port never meet at one row: the unit's reads never reach a
        # staging row (which = 3 reads key2), the table writes a slot's rows only while it reads
        # a staging row itself, and writes a staging row only while the unit has the read
        # port. Yosys sees that, and needs no read-first logic (~260 flip-flops) around the
        # block RAM.
        unit_address = Signal(len(read.addr))
        m.d.comb += [
            unit_address.eq(port.addr),
            unit_address[:2].eq(Mux(port.addr[:2] == KeyRow.STAGING, KeyRow.KEY2, port.addr[:2])),
            read.addr.eq(Mux(own_read, own_address, unit_address)),
            read.en.eq(own_read | port.en),
            port.data.eq(read.data),
        ]
        all_words = Const((1 << words) - 1, words)

        # The staged words are written into the staging rows, a word at a time (write-only,
        # frozen while a command runs). SEC_CM: KEYSLOTS.STAGING.CLEAR: "clearing" marks both
        # staging rows to be zeroed: each is written with zeros in the next cycle the write
        # port is free, or with zeros and the new word if a word is written to it first, so a
        # word written after a clear never sits beside an old one.
        clear_pending = Signal(2)
        clear_staging = Signal()
        fsm_idle = Signal()
        fsm_write = Signal()                # the command FSM writes a slot row this cycle
        fsm_write_address = Signal(len(write.addr))
        fsm_write_data = Signal(key_bits)
        # A staged word reaches its row a cycle after its register write: the secure port's
        # decode is too long a path for the half cycle before the falling edge.
        word_write = Signal()
        word_target = Signal()              # 0: staged key1, 1: staged key2
        word_index = Signal(range(words))
        word_data = Signal(32)
        m.d.sync += word_write.eq(0)
        for n in range(words):
            for target, name in enumerate(("KEY1", "KEY2")):
                field = bank.field(f"{name}_{n}", "word")
                with m.If(field.w_stb & fsm_idle):
                    m.d.sync += [word_write.eq(1), word_target.eq(target), word_index.eq(n),
                                 word_data.eq(field.w_data)]
        with m.If(fsm_write):
            m.d.comb += [write.addr.eq(fsm_write_address), write.data.eq(fsm_write_data),
                         write.en.eq(all_words)]
        with m.Elif(word_write):
            m.d.comb += [
                write.addr.eq(Mux(word_target, staging_rows[1], staging_rows[0])),
                write.data.eq(word_data << (word_index * 32)),
                write.en.eq(Mux(clear_pending.bit_select(word_target, 1), all_words,
                                C(1, words) << word_index)),
            ]
            m.d.sync += clear_pending.bit_select(word_target, 1).eq(0)
        with m.Elif(clear_pending.any() & ~own_read):
            first = ~clear_pending[0]
            m.d.comb += [write.addr.eq(Mux(first, staging_rows[1], staging_rows[0])),
                         write.data.eq(0), write.en.eq(all_words)]
            m.d.sync += clear_pending.bit_select(first, 1).eq(0)
        with m.If(clear_staging):
            m.d.sync += clear_pending.eq(0b11)

        command = self._command_port(m, bank, fsm_idle)
        m.submodules.expander = expander = AESKeyExpander(key_bits=key_bits)
        target, installing = command.target, command.installing
        wipe_row = Signal(2)

        with m.FSM(name="command") as fsm:
            with m.State("IDLE"):
                with m.If(command.accepted):
                    m.d.sync += wipe_row.eq(0)
                    m.next = "QUIESCE"
                with m.Elif(command.refused):
                    m.d.comb += clear_staging.eq(1)
            with m.State("QUIESCE"):
                # Everything after this waits for the drain: the table borrows the unit's key
                # read port, and the staging rows must be clear of an earlier clear.
                m.d.comb += self.quiesce_request.eq(1)
                with m.If(self.quiesce_grant & ~clear_pending.any()):
                    with m.If(installing):
                        m.next = "READ_KEY1"
                    with m.Else():
                        m.next = "WIPE"
            with m.State("READ_KEY1"):
                m.d.comb += [self.quiesce_request.eq(1), own_read.eq(1), own_address.eq(staging_rows[0])]
                m.next = "EXPAND"
            with m.State("EXPAND"):
                # The staged key1 is on the read port: into the expander and into its row.
                m.d.comb += [
                    self.quiesce_request.eq(1), own_read.eq(1), own_address.eq(staging_rows[0]),
                    expander.i.valid.eq(1),
                    expander.i.payload.key.eq(read.data),
                ]
                with m.If(expander.i.ready):
                    m.d.comb += [fsm_write.eq(1), fsm_write_address.eq(row(KeyRow.KEY1, target)),
                                 fsm_write_data.eq(read.data)]
                    m.next = "EXPANDING"
            with m.State("EXPANDING"):
                # Meanwhile the read port turns to the staged key2.
                m.d.comb += [self.quiesce_request.eq(1), own_read.eq(1), own_address.eq(staging_rows[1]),
                             expander.o.ready.eq(1)]
                with m.If(expander.o.valid):
                    m.d.comb += [fsm_write.eq(1), fsm_write_address.eq(row(KeyRow.KEY1_DECRYPT, target)),
                                 fsm_write_data.eq(expander.o.payload.decryption_key)]
                    m.next = "COPY_KEY2"
            with m.State("COPY_KEY2"):
                m.d.comb += [
                    self.quiesce_request.eq(1), own_read.eq(1), own_address.eq(staging_rows[1]),
                    fsm_write.eq(1), fsm_write_address.eq(row(KeyRow.KEY2, target)),
                    fsm_write_data.eq(read.data),
                    clear_staging.eq(1),
                ]
                m.d.sync += self.valid.bit_select(target, 1).eq(1)
                m.next = "IDLE"
            with m.State("WIPE"):
                # SEC_CM: KEYSLOTS.KEY.WIPE
                # A wipe writes zeros over the slot's three rows (key1, its decryption key, key2).
                m.d.comb += [self.quiesce_request.eq(1), fsm_write.eq(1), own_read.eq(1),
                             own_address.eq(staging_rows[0]),
                             fsm_write_address.eq(Cat(wipe_row, target)), fsm_write_data.eq(0)]
                m.d.sync += wipe_row.eq(wipe_row + 1)
                with m.If(wipe_row == KeyRow.KEY2):
                    m.d.comb += clear_staging.eq(1)
                    m.d.sync += self.valid.bit_select(target, 1).eq(0)
                    m.next = "IDLE"
        m.d.comb += fsm_idle.eq(fsm.ongoing("IDLE"))
        return m
