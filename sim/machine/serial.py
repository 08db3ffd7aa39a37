"""The ``serial`` backend: the machine API over a byte link to a board's serial bridge
(``rtl/bridge``), one request at a time.

:func:`open_board` gives the machine of a board (``rtl/boards``) at a port: its config is the
board's (:func:`board_config`), so software keeps within the board's memory. A port is anything
with pyserial's ``write(bytes)`` and ``read(n)``: a ``serial.Serial`` on a board, or
:class:`SimulatedPort`, a bridged system (or, through :class:`UARTLink`, a whole board top with
its UART pins) in Amaranth's simulator, which is how the whole path is tested without a board.
"""

from collections import deque

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ...rtl.boards import BOARDS, BridgedSystem
from ...rtl.bridge import REQUEST, RESPONSE, UNKNOWN_OP, Op, response_length
from ...rtl.uart import UARTReceiver, UARTTransmitter
from .api import BusError, Machine, MachineConfig, Read, check_op, read_ops, run_at_once, write_ops

__all__ = ["SerialMachine", "SerialLinkError", "SimulatedPort", "UARTLink", "board_config", "open_board",
           "SIMULATED_PORT"]

#: ``--port`` naming no device but the board's bridged system in Amaranth's simulator.
SIMULATED_PORT = "sim"
#: Seconds a read waits for the board's answer before the link counts as lost.
READ_TIMEOUT = 2.0


def board_config(name):
    """The :class:`MachineConfig` of board ``name``'s memory system (``rtl/boards``)."""
    system = BOARDS[name].system
    return MachineConfig(key_bits=system["key_bits"], slots=system["slots"], engine=system["engine"],
                         address_width=system["address_width"], cbit_position=system["cbit_position"],
                         cache_bytes=system["cache_bytes"], memory_bytes=system["memory_bytes"],
                         unit=system.get("unit", "standard"))


def open_board(*, board, port, baud=1_000_000):
    """A :class:`SerialMachine` on board ``board`` at ``port``: a device or any pyserial URL
    (``socket://host:port``), or :data:`SIMULATED_PORT` for the board's bridged system in
    Amaranth's simulator (the whole serial path, no board)."""
    if board not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {board!r}")
    if port == SIMULATED_PORT:
        link = SimulatedPort(BridgedSystem(**BOARDS[board].system))
    else:
        import serial           # pyserial: only a real link needs it
        try:
            link = serial.serial_for_url(port, baudrate=baud, timeout=READ_TIMEOUT)
        except (serial.SerialException, ValueError) as error:
            raise SerialLinkError(f"cannot open {port}: {error}") from None
    return SerialMachine(board_config(board), link)


class SerialLinkError(Exception):
    """The board answered something other than the response to the request (or nothing)."""


class SerialMachine(Machine):
    """The machine API through ``port``. Operations run in order, each waited for; ``cycles``
    is the board's cycle counter. The DRAM backdoor is the bridge's DRAM_READ/DRAM_WRITE,
    which reach the board's memory past the unit, between two bursts of the unit's."""

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
        if isinstance(op, Read):
            status, data = self._burst_read(Op.PRIV_READ if private else Op.HOST_READ, op.address, op.asid, op.beats)
            return BusError(op) if status else data
        status = self._burst_write(Op.PRIV_WRITE if private else Op.HOST_WRITE, op.address, op.asid,
                                   op.data, op.strobes)
        return BusError(op) if status else None

    def _burst_read(self, op, address, asid, beats):
        return self._exchange(op, address.to_bytes(6, "little") + bytes([asid, beats]), beats=beats)

    def _burst_write(self, op, address, asid, data, strobes):
        beats = len(data) // 16
        fields = b"".join((strobes >> 16 * n & 0xFFFF).to_bytes(2, "little") + data[16 * n:16 * n + 16]
                          for n in range(beats))
        return self._exchange(op, address.to_bytes(6, "little") + bytes([asid, beats]) + fields)[0]

    async def csr_read(self, address):
        return int.from_bytes(self._exchange(Op.SECURE_READ, bytes([address]))[1], "little")

    async def csr_write(self, address, value):
        self._exchange(Op.SECURE_WRITE, bytes([address]) + value.to_bytes(4, "little"))

    async def maint_read(self, address):
        return int.from_bytes(self._exchange(Op.MAINT_READ, bytes([address]))[1], "little")

    async def maint_write(self, address, value):
        self._exchange(Op.MAINT_WRITE, bytes([address]) + value.to_bytes(4, "little"))

    async def dram_read(self, address, length):
        # The bursts Machine.read would make, on the bridge's DRAM op (no unit, no ASID).
        ops, spans = read_ops(address, length)
        out = bytearray()
        for op, (low, high) in zip(ops, spans):
            out += self._burst_read(Op.DRAM_READ, op.address, 0, op.beats)[1][low:high]
        return bytes(out)

    async def dram_write(self, address, data):
        for op in write_ops(address, data):
            self._burst_write(Op.DRAM_WRITE, op.address, 0, op.data, op.strobes)

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


class UARTLink(wiring.Component):
    """A board top (:class:`~sevlab.rtl.boards.BoardTop`, no platform) with the host's UART
    wired to its UART pins: bytes in and out as streams, bits on the lines between, at the
    top's divisor. :class:`SimulatedPort` drives it as it drives a bridged system."""

    def __init__(self, top):
        self.top = top
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = self.top
        m.submodules.host_tx = host_tx = UARTTransmitter(top.divisor)
        m.submodules.host_rx = host_rx = UARTReceiver(top.divisor)
        m.d.comb += [top.rx_line.eq(host_tx.tx), host_rx.rx.eq(top.tx_line)]
        wiring.connect(m, wiring.flipped(self.rx), host_tx.data)
        wiring.connect(m, host_rx.data, wiring.flipped(self.tx))
        return m
