"""The ``serial`` backend: the machine API over a byte link to a board's serial bridge
(``rtl/bridge``), one request at a time.

``port`` is anything with pyserial's ``write(bytes)`` and ``read(n)``: a ``serial.Serial`` on a
board, or :class:`SimulatedPort` (the bridged system in Amaranth's simulator, bytes on its
streams), which is how the whole path is tested without a board.
"""

from collections import deque

from amaranth.sim import Simulator

from ...rtl.bridge import REQUEST, RESPONSE, UNKNOWN_OP, Op, response_length
from .api import BusError, Machine, Read, check_op, run_at_once

__all__ = ["SerialMachine", "SerialLinkError", "SimulatedPort"]


class SerialLinkError(Exception):
    """The board answered something other than the response to the request (or nothing)."""


class SerialMachine(Machine):
    """The machine API through ``port``. Operations run in order, each waited for; ``cycles``
    is the board's cycle counter. A board has no DRAM backdoor: :meth:`dram_read` and
    :meth:`dram_write` raise NotImplementedError."""

    def __init__(self, config, port):
        self.config = config
        self.port = port

    def run(self, scenario):
        """Run ``async def scenario(machine)``: every await completes on the link, in this thread."""
        return run_at_once(self, scenario)

    @property
    def cycles(self):
        return int.from_bytes(self._exchange(Op.CYCLES, b"")[1], "little")

    def start(self, ops):
        for op in ops:
            check_op(op, self.config.address_width, self.config.asid_limit)
        return list(ops)

    async def wait(self, handle):
        return [self._memory(op) for op in handle]

    def _memory(self, op):
        private = op.port == "priv"
        header = op.address.to_bytes(6, "little") + bytes([op.asid, op.beats])
        if isinstance(op, Read):
            status, data = self._exchange(Op.PRIV_READ if private else Op.HOST_READ, header, beats=op.beats)
            return BusError(op) if status else data
        beats = b"".join((op.strobes >> 16 * n & 0xFFFF).to_bytes(2, "little") + op.data[16 * n:16 * n + 16]
                         for n in range(op.beats))
        status, _ = self._exchange(Op.PRIV_WRITE if private else Op.HOST_WRITE, header + beats)
        return BusError(op) if status else None

    async def csr_read(self, address):
        return int.from_bytes(self._exchange(Op.SECURE_READ, bytes([address]))[1], "little")

    async def csr_write(self, address, value):
        self._exchange(Op.SECURE_WRITE, bytes([address]) + value.to_bytes(4, "little"))

    async def maint_read(self, address):
        return int.from_bytes(self._exchange(Op.MAINT_READ, bytes([address]))[1], "little")

    async def maint_write(self, address, value):
        self._exchange(Op.MAINT_WRITE, bytes([address]) + value.to_bytes(4, "little"))

    async def dram_read(self, address, length):
        raise NotImplementedError("a board has no DRAM backdoor")

    async def dram_write(self, address, data):
        raise NotImplementedError("a board has no DRAM backdoor")

    def _exchange(self, op, fields, *, beats=0):
        """Send one request; return ``(status, data)`` of its response."""
        self.port.write(bytes([REQUEST, op]) + fields)
        head = self.port.read(3)
        if len(head) != 3 or head[0] != RESPONSE or head[1] != op:
            raise SerialLinkError(f"{Op(op).name}: the board answered {head.hex() or 'nothing'}")
        if head[2] == UNKNOWN_OP:
            raise SerialLinkError(f"{Op(op).name}: the board does not know this request")
        length = response_length(op, beats)
        data = self.port.read(length) if length else b""
        if len(data) != length:
            raise SerialLinkError(f"{Op(op).name}: {len(data)} of {length} response bytes")
        return head[2], data


class SimulatedPort:
    """A serial port whose other end is ``system`` (a component with byte streams ``rx`` and
    ``tx``, such as :class:`~sevlab.rtl.boards.BridgedSystem`) in Amaranth's simulator: written
    bytes are offered on ``rx`` one a cycle; :meth:`read` runs the simulation until ``tx`` has
    given as many bytes (or ``limit`` cycles passed: it returns what it has, as a port's
    timeout does)."""

    def __init__(self, system, *, limit=200_000):
        self._to_board = deque()
        self._from_board = bytearray()
        self._limit = limit
        self.cycles = 0
        self._sim = Simulator(system)
        self._sim.add_clock(1e-8)
        self._sim.add_process(self._process(system))

    def _process(self, system):
        async def process(ctx):
            rx, tx = system.rx, system.tx
            ctx.set(tx.ready, 1)
            async for _, _, rx_ready, tx_valid, tx_payload in ctx.tick().sample(rx.ready, tx.valid, tx.payload):
                self.cycles += 1
                if rx_ready and self._offered is not None:
                    self._to_board.popleft()
                if tx_valid:
                    self._from_board.append(tx_payload)
                self._offered = self._to_board[0] if self._to_board else None
                ctx.set(rx.valid, self._offered is not None)
                if self._offered is not None:
                    ctx.set(rx.payload, self._offered)
        self._offered = None
        return process

    def write(self, data):
        self._to_board.extend(data)
        return len(data)

    def read(self, count):
        deadline = self.cycles + self._limit
        while len(self._from_board) < count and self.cycles < deadline:
            self._sim.advance()
        out = bytes(self._from_board[:count])
        del self._from_board[:count]
        return out
