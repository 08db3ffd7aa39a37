"""The machine API: what firmware, hypervisor and scenarios use to reach the hardware.

One interface, several backends (``model``, ``amaranth``, ``icarus``, ``verilator``). A scenario
is an ``async def scenario(machine)``; :func:`sevlab.sim.machine.run` runs it on a backend.
See ``sim/README.md`` ("The machine API").
"""

from dataclasses import dataclass

from .drivers import CacheDriver

__all__ = ["BusError", "Read", "Write", "Machine", "LINE_BYTES", "BEAT_BYTES", "PORTS", "ALL_STROBES",
           "MachineConfig", "read_ops", "write_ops"]

LINE_BYTES = 64
BEAT_BYTES = 16
ALL_STROBES = (1 << LINE_BYTES) - 1
PORTS = ("host", "priv")


class BusError(Exception):
    """The unit answered a request with an error response (SLVERR)."""

    def __init__(self, op):
        super().__init__(f"{op} refused by the unit (SLVERR)")
        self.op = op


@dataclass(frozen=True)
class MachineConfig:
    """The hardware a machine is built from (the unit's parameters)."""
    key_bits: int = 128
    slots: int = 16
    engine: str = "pipelined"
    address_width: int = 48
    cbit_position: int = 47
    min_sev_asid: int = 1
    memory_latency: int = 16
    cache_bytes: int = 8192         # 0: no cache (the bare unit)
    cache_ways: int = 4
    #: DRAM behind the unit: None is the simulated DRAM, which holds any address; a board's
    #: block RAM wraps at its size, and the host's memory map keeps within it.
    memory_bytes: int | None = None
    #: The encryption unit: "standard" (rtl/meu) or "small" (rtl/meu_small, one request at a
    #: time, for small FPGAs; it takes engine="compact" or "narrow").
    unit: str = "standard"

    @property
    def asid_limit(self):
        """ASIDs the host port can express: 2 ** (AxUSER width)."""
        return 1 << max(1, (self.slots - 1).bit_length())


@dataclass(frozen=True)
class Read:
    """Read the beats ``address .. address + 16 * beats`` (inside one line)."""
    address: int
    beats: int = 4
    asid: int = 0
    port: str = "host"

    def __str__(self):
        return f"read {self.address:#x} ({self.beats} beats, ASID {self.asid}, {self.port} port)"


@dataclass(frozen=True)
class Write:
    """Write ``data`` (16 × beats bytes) at ``address``; ``strobe`` bit n enables byte n."""
    address: int
    data: bytes
    asid: int = 0
    port: str = "host"
    strobe: int | None = None

    @property
    def beats(self):
        return len(self.data) // BEAT_BYTES

    @property
    def strobes(self):
        return (1 << len(self.data)) - 1 if self.strobe is None else self.strobe

    def __str__(self):
        return f"write {self.address:#x} ({self.beats} beats, ASID {self.asid}, {self.port} port)"


def run_at_once(machine, scenario):
    """Run ``async def scenario(machine)`` on a backend whose every await completes before it
    returns (the model, the serial link): one send, no event loop."""
    coroutine = scenario(machine)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError(f"a scenario on {type(machine).__name__} awaited something other than the machine")


def check_op(op, address_width, asid_limit):
    """Raise ValueError for an operation no backend can issue (not a unit refusal)."""
    if not 0 <= op.asid < asid_limit:
        raise ValueError(f"ASID must be in 0..{asid_limit - 1} (the AxUSER width), not {op.asid!r}")
    if op.port not in PORTS:
        raise ValueError(f"port must be one of {PORTS}, not {op.port!r}")
    if op.address % BEAT_BYTES:
        raise ValueError(f"address must be 16-byte aligned, not {op.address:#x}")
    if not 0 <= op.address < (1 << address_width):
        raise ValueError(f"address {op.address:#x} does not fit {address_width} bits")
    beats = op.beats
    if isinstance(op, Write) and len(op.data) % BEAT_BYTES:
        raise ValueError(f"write data must be whole 16-byte beats, not {len(op.data)} bytes")
    if not 1 <= beats <= 4 or (op.address % LINE_BYTES) // BEAT_BYTES + beats > 4:
        raise ValueError(f"{op} must be 1..4 beats inside one 64-byte line")


class Machine:
    """Base class of the backends. Every method is a coroutine unless it says otherwise.

    Host-port operations: :meth:`read`, :meth:`write`, :meth:`read_line`, :meth:`write_line`,
    :meth:`issue` (many at once); cache maintenance: :meth:`wbinvd`, :meth:`clflush` (on the
    cores' maintenance bus, :meth:`maint_read`/:meth:`maint_write`). The secure port: :meth:`csr_read`, :meth:`csr_write` (word
    addresses; use the drivers in ``sim/machine/drivers.py`` rather than raw addresses). The
    privileged memory port: the same operations with ``port="priv"``. The DRAM backdoor
    (:meth:`dram_read`, :meth:`dram_write`) sees and changes DRAM without the unit, as a
    physical attacker or a hypervisor mapping the page without the C-bit would.
    """

    config: MachineConfig

    @property
    def cycles(self):
        """Clock cycles simulated so far (0 on the model)."""
        raise NotImplementedError

    def start(self, ops):
        """Start ``ops`` (a plain call, not a coroutine) and return a handle for :meth:`wait`.

        Operations go out in list order, each port's as fast as the unit takes them, with as
        many in flight as the unit allows. On the model they complete at once, in order.

        Raises
        ------
        ValueError
            An operation cannot be expressed on the bus (see :func:`check_op`).
        """
        raise NotImplementedError

    async def wait(self, handle):
        """Wait for the operations of ``handle``; return their results in order.

        The result of a :class:`Read` is its bytes, of a :class:`Write` None; a refused
        operation's result is a :class:`BusError` (returned, not raised, so that one refusal
        does not hide the others).
        """
        raise NotImplementedError

    async def issue(self, ops):
        """:meth:`start` then :meth:`wait`."""
        return await self.wait(self.start(ops))

    async def csr_read(self, address):
        raise NotImplementedError

    async def csr_write(self, address, value):
        raise NotImplementedError

    async def maint_read(self, address):
        """Read a word of the cores' cache-maintenance bus (``rtl/cache/regmap.py``)."""
        raise NotImplementedError

    async def maint_write(self, address, value):
        raise NotImplementedError

    async def wbinvd(self):
        """WBINVD: write back every dirty line and invalidate the whole cache.

        Returns the cycles it took (0 on the model).
        """
        return await CacheDriver(self).wbinvd()

    async def clflush(self, address, *, asid=0):
        """CLFLUSH the line of ``address`` (C-bit included) tagged with ``asid``: write it
        back if dirty, then invalidate it (the cache's LAST_CYCLES register says how long it
        took).

        Raises
        ------
        ValueError
            The address or the ASID does not fit the bus.
        """
        if not 0 <= address < (1 << self.config.address_width):
            raise ValueError(f"address {address:#x} does not fit {self.config.address_width} bits")
        if not 0 <= asid < self.config.asid_limit:
            raise ValueError(f"ASID must be in 0..{self.config.asid_limit - 1}, not {asid!r}")
        await CacheDriver(self).clflush(address, asid)

    async def dram_read(self, address, length):
        raise NotImplementedError

    async def dram_write(self, address, data):
        raise NotImplementedError

    async def tick(self, cycles=1):
        """Let time pass (no-op on the model)."""

    # Conveniences built on issue() --------------------------------------------------------------
    async def _one(self, op):
        (result,) = await self.issue([op])
        if isinstance(result, BusError):
            raise result
        return result

    async def read_line(self, address, *, asid=0, port="host"):
        """Read a whole 64-byte line. Raises BusError if the unit refuses it."""
        return await self._one(Read(address, 4, asid, port))

    async def write_line(self, address, data, *, asid=0, port="host", strobe=None):
        """Write a whole 64-byte line (``strobe`` selects bytes). Raises BusError if refused."""
        return await self._one(Write(address, bytes(data), asid, port, strobe))

    async def read(self, address, length, *, asid=0, port="host"):
        """Read any byte range, one burst per line it touches. Raises BusError if refused."""
        ops, spans = read_ops(address, length, asid=asid, port=port)
        results = await self.issue(ops)
        out = bytearray()
        for result, (low, high) in zip(results, spans):
            if isinstance(result, BusError):
                raise result
            out += result[low:high]
        return bytes(out)

    async def write(self, address, data, *, asid=0, port="host"):
        """Write any byte range, with byte strobes at the ragged ends. Raises BusError if refused."""
        for result in await self.issue(write_ops(address, data, asid=asid, port=port)):
            if isinstance(result, BusError):
                raise result


def read_ops(address, length, *, asid=0, port="host"):
    """The bursts that read ``[address, address + length)``: one :class:`Read` per line it
    touches, and where each one's wanted bytes lie in its data (``(ops, [(low, high), ...])``)."""
    ops, spans = [], []
    for start, end in _lines(address, length):
        beat = start - start % BEAT_BYTES
        beats = -(-(end - beat) // BEAT_BYTES)
        ops.append(Read(beat, beats, asid, port))
        spans.append((start - beat, end - beat))
    return ops, spans


def write_ops(address, data, *, asid=0, port="host"):
    """The bursts that write ``data`` at ``address``: one :class:`Write` per line it touches,
    byte strobes at the ragged ends."""
    data = bytes(data)
    ops = []
    for start, end in _lines(address, len(data)):
        beat = start - start % BEAT_BYTES
        beats = -(-(end - beat) // BEAT_BYTES)
        chunk = bytearray(beats * BEAT_BYTES)
        offset = start - beat
        chunk[offset:offset + end - start] = data[start - address:end - address]
        strobe = ((1 << (end - start)) - 1) << offset
        ops.append(Write(beat, bytes(chunk), asid, port, strobe))
    return ops


def _lines(address, length):
    """Split ``[address, address + length)`` at 64-byte line boundaries."""
    if length <= 0:
        raise ValueError(f"length must be positive, not {length!r}")
    end = address + length
    while address < end:
        line_end = min(end, (address // LINE_BYTES + 1) * LINE_BYTES)
        yield address, line_end
        address = line_end
