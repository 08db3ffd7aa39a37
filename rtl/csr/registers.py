"""Register descriptions: the one place a programmable block's registers are written down.

The RTL bridge (:class:`~sevlab.rtl.csr.bank.CSRBank`), the host-side drivers and the README
tables are all generated from these objects. See ``rtl/csr/README.md``.
"""

import enum
from dataclasses import dataclass, field as dataclass_field

__all__ = ["Access", "Field", "Register", "RegisterMap", "DATA_WIDTH", "event_counters"]

#: Width of a register and of the CSR bus's data.
DATA_WIDTH = 32


class Access(enum.Enum):
    """Who may do what to a field.

    ``R``: hardware drives it, software reads it, writes are ignored.
    ``RW``: the bank stores it (with its reset value), software reads and writes it.
    ``W``: write-only; the bank hands the written value and a one-cycle strobe to the hardware
    and stores nothing. A read returns 0.
    """

    R = "R"
    RW = "RW"
    W = "W"


@dataclass(frozen=True)
class Field:
    name: str
    width: int
    access: Access
    doc: str
    reset: int = 0

    def __post_init__(self):
        if not 1 <= self.width <= DATA_WIDTH:
            raise ValueError(f"Field {self.name!r} width must be 1..{DATA_WIDTH}, not {self.width!r}")
        if self.reset and self.access is not Access.RW:
            raise ValueError(f"Field {self.name!r}: only RW fields have a reset value")
        if not 0 <= self.reset < (1 << self.width):
            raise ValueError(f"Field {self.name!r} reset value {self.reset!r} does not fit {self.width} bits")


@dataclass(frozen=True)
class Register:
    """A 32-bit register at a word address, its fields packed from bit 0 upwards.

    ``lockable``: the register has a one-bit RW field named ``lock``; once software has written
    it as 1, every write to the register is ignored until reset.
    """

    name: str
    address: int
    fields: tuple
    doc: str
    lockable: bool = False
    offsets: dict = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self):
        offsets, offset = {}, 0
        for f in self.fields:
            if f.name in offsets:
                raise ValueError(f"Register {self.name!r} has two fields named {f.name!r}")
            offsets[f.name] = offset
            offset += f.width
        if offset > DATA_WIDTH:
            raise ValueError(f"Register {self.name!r} fields take {offset} bits, more than {DATA_WIDTH}")
        if self.lockable and not any(f.name == "lock" and f.access is Access.RW and f.width == 1
                                     for f in self.fields):
            raise ValueError(f"Lockable register {self.name!r} needs a one-bit RW field named 'lock'")
        object.__setattr__(self, "offsets", offsets)

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"Register {self.name} has no field {name!r}; it has "
                       f"{', '.join(f.name for f in self.fields)}")

    def encode(self, **values):
        """Pack field values into a register word; fields not given are 0."""
        word = 0
        for name, value in values.items():
            f = self.field(name)
            if not 0 <= value < (1 << f.width):
                raise ValueError(f"{self.name}.{name} is {f.width} bits wide; {value!r} does not fit")
            word |= value << self.offsets[name]
        return word

    def decode(self, word):
        """Unpack a register word into ``{field name: value}``."""
        return {f.name: (word >> self.offsets[f.name]) & ((1 << f.width) - 1) for f in self.fields}


class RegisterMap:
    """An ordered set of registers with unique names and word addresses."""

    def __init__(self, name, registers):
        self.name = name
        self._registers = {}
        addresses = {}
        for register in registers:
            if register.name in self._registers:
                raise ValueError(f"{name}: two registers named {register.name!r}")
            if register.address in addresses:
                raise ValueError(f"{name}: {register.name} and {addresses[register.address]} "
                                 f"share word address {register.address:#x}")
            self._registers[register.name] = register
            addresses[register.address] = register.name

    def __iter__(self):
        return iter(self._registers.values())

    def __getitem__(self, name):
        try:
            return self._registers[name]
        except KeyError:
            raise KeyError(f"{self.name} has no register {name!r}") from None

    def by_address(self, address):
        """The register at word ``address``, or None."""
        return next((r for r in self if r.address == address), None)

    @property
    def address_width(self):
        """Word-address bits the map needs."""
        return max(r.address for r in self).bit_length() or 1

    def markdown(self):
        """The register table for a README (a test checks the README holds exactly this)."""
        lines = ["| address | register | bits | field | access | reset | description |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        for register in self:
            lines.append(f"| {register.address:#04x} | **{register.name}** | | | | | {register.doc} |")
            for f in register.fields:
                low = register.offsets[f.name]
                bits = f"{low}" if f.width == 1 else f"{low + f.width - 1}:{low}"
                lines.append(f"| | | {bits} | `{f.name}` | {f.access.value} | {f.reset:#x} | {f.doc} |")
        return "\n".join(lines)


def event_counters(counters, *, base, clear_address):
    """32-bit event counters, one register each from word ``base``, and their COUNTERS_CLEAR.

    ``counters`` maps register names to what they count. :meth:`CSRBank.count_events` is the
    hardware side.
    """
    return [
        *(Register(name, base + n, (Field("count", 32, Access.R, doc),),
                   "Event counter (wraps; an event shows two cycles after it); COUNTERS_CLEAR zeroes it.")
          for n, (name, doc) in enumerate(counters.items())),
        Register("COUNTERS_CLEAR", clear_address, (
            Field("clear", 1, Access.W, "1 zeroes every event counter"),
        ), "Clears the event counters."),
    ]
