"""The serial path without a board: the machine API's serial backend (sim/machine/serial.py)
sends frames to the bridged system (rtl/boards: bridge → memory system → block RAM) in
Amaranth's simulator, and must see what the golden model sees; the bridge's refusals."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sevlab.rtl.boards import BridgedSystem
from sevlab.rtl.bridge import REQUEST, RESPONSE, UNKNOWN_OP, Op
from sevlab.rtl.uart import UARTReceiver, UARTTransmitter
from sevlab.sim.machine import CacheDriver, KeySlotDriver, MachineConfig, Read, UnitDriver, run
from sevlab.sim.machine.serial import SerialLinkError, SerialMachine, SimulatedPort

CBIT = 1 << 47
KEY = (bytes(range(16)), bytes(range(16, 32)))
CONFIG = MachineConfig(engine="compact", memory_latency=0)


def _system(config):
    return BridgedSystem(memory_bytes=1 << 16, cache_bytes=config.cache_bytes, cache_ways=config.cache_ways,
                         key_bits=config.key_bits, slots=config.slots, engine=config.engine,
                         address_width=config.address_width, cbit_position=config.cbit_position,
                         min_sev_asid=config.min_sev_asid)


class _OverUART(wiring.Component):
    """The bridged system behind a UART pair, and the host's UART pair wired to its pins: bytes
    in and out as streams, bits on the wires between."""

    def __init__(self, system, divisor):
        self.system, self.divisor = system, divisor
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = self.system
        m.submodules.host_tx = host_tx = UARTTransmitter(self.divisor)
        m.submodules.host_rx = host_rx = UARTReceiver(self.divisor)
        m.submodules.board_tx = board_tx = UARTTransmitter(self.divisor)
        m.submodules.board_rx = board_rx = UARTReceiver(self.divisor)
        m.d.comb += [board_rx.rx.eq(host_tx.tx), host_rx.rx.eq(board_tx.tx)]
        wiring.connect(m, wiring.flipped(self.rx), host_tx.data)
        wiring.connect(m, board_rx.data, self.system.rx)
        wiring.connect(m, self.system.tx, board_tx.data)
        wiring.connect(m, host_rx.data, wiring.flipped(self.tx))
        return m


async def _scenario(machine):
    await UnitDriver(machine).configure(sme_enable=True)
    await KeySlotDriver(machine).install(1, *KEY)
    line = bytes(range(64))
    await machine.write_line(0x1000 | CBIT, line, asid=1)
    private = await machine.read_line(0x1000 | CBIT, asid=1)
    await machine.write(0x2010, b"partial write, 20 b")
    partial = await machine.read(0x2000, 64)
    await machine.wbinvd()
    ciphertext = await machine.read_line(0x1000)                  # the C=0 view after the flush
    snooped = await machine.read_line(0x1000 | CBIT, asid=1, port="priv")
    await machine.write(0x1020 | CBIT, b"secure processor".ljust(16), asid=1, port="priv")
    refused = await machine.issue([Read(0x3000 | CBIT, 4, 2)])    # no key in slot 2
    await machine.clflush(0x2000)
    after = await machine.read_line(0x1000 | CBIT, asid=1)
    return (private, partial, ciphertext, snooped, [type(r).__name__ for r in refused], after,
            await CacheDriver(machine).counters(), await UnitDriver(machine).counters(),
            await UnitDriver(machine).cpuid())


def _on_serial(port_factory):
    port = port_factory()
    machine = SerialMachine(CONFIG, port)
    return machine.run(_scenario), machine, port


def test_the_serial_backend_on_the_bridged_system_sees_what_the_model_sees():
    expected, _ = run(_scenario, backend="model", config=CONFIG)
    got, machine, port = _on_serial(lambda: SimulatedPort(_system(CONFIG)))
    assert got == expected
    assert got[0] == bytes(range(64)) and got[2] != got[0] and got[4] == ["BusError"]
    first, second = machine.cycles, machine.cycles        # each asks the board: time passes
    assert 0 < first < second <= port.cycles


def test_the_same_through_uart_pins():
    expected, _ = run(_scenario, backend="model", config=CONFIG)
    got, _, _ = _on_serial(lambda: SimulatedPort(_OverUART(_system(CONFIG), divisor=2), limit=2_000_000))
    assert got == expected


def _raw(port, frame, answer_bytes):
    port.write(frame)
    return port.read(answer_bytes)


def test_the_bridge_answers_an_unknown_op_and_a_bad_burst_and_skips_noise():
    port = SimulatedPort(_system(CONFIG))
    assert _raw(port, bytes([0x00, 0x13, REQUEST, 0x7E]), 3) == bytes([RESPONSE, 0x7E, UNKNOWN_OP])
    bad = bytes([REQUEST, Op.HOST_READ]) + (0x1000).to_bytes(6, "little") + bytes([0, 5])
    assert _raw(port, bad, 3) == bytes([RESPONSE, Op.HOST_READ, 2])
    # The link is still in step: a good request after both.
    good = bytes([REQUEST, Op.HOST_READ]) + (0x1000).to_bytes(6, "little") + bytes([0, 1])
    assert _raw(port, good, 3 + 16) == bytes([RESPONSE, Op.HOST_READ, 0]) + bytes(16)


def test_a_silent_link_is_an_error_not_a_hang():
    class Deaf:
        def write(self, data):
            return len(data)

        def read(self, count):
            return b""

    with pytest.raises(SerialLinkError, match="answered nothing"):
        SerialMachine(CONFIG, Deaf()).run(lambda m: m.read_line(0))
