"""The serial path without a board: the machine API's serial backend (sim/machine/serial.py)
sends frames to the bridged system (rtl/boards: bridge → memory system → block RAM) in
Amaranth's simulator, and must see what the golden model sees; the bridge's refusals."""

import pytest

from sevlab.rtl.boards import BOARDS, BridgedSystem, ICEBreakerTop
from sevlab.rtl.bridge import REQUEST, RESPONSE, UNKNOWN_OP, Op
from sevlab.sim.machine import CacheDriver, KeySlotDriver, MachineConfig, Read, UnitDriver, run
from sevlab.sim.machine.serial import SerialLinkError, SerialMachine, SimulatedPort, UARTLink, board_config

KEY = (bytes(range(16)), bytes(range(16, 32)))
#: A bridged system with a cache (the boards have none), so that the secure processor's snoop
#: runs through the bridge too.
CACHED = MachineConfig(engine="compact", memory_latency=0)


def _system(config):
    return BridgedSystem(memory_bytes=1 << 16, cache_bytes=config.cache_bytes, cache_ways=config.cache_ways,
                         key_bits=config.key_bits, slots=config.slots, engine=config.engine,
                         address_width=config.address_width, cbit_position=config.cbit_position,
                         min_sev_asid=config.min_sev_asid)


async def _scenario(machine):
    cbit = 1 << machine.config.cbit_position
    await UnitDriver(machine).configure(sme_enable=True)
    await KeySlotDriver(machine).install(1, *KEY)
    line = bytes(range(64))
    await machine.write_line(0x1000 | cbit, line, asid=1)
    private = await machine.read_line(0x1000 | cbit, asid=1)
    await machine.write(0x2010, b"partial write, 20 b")
    partial = await machine.read(0x2000, 64)
    await machine.wbinvd()
    ciphertext = await machine.read_line(0x1000)                  # the C=0 view after the flush
    in_dram = await machine.dram_read(0x1000, 64)                 # the backdoor: the same bytes
    snooped = await machine.read_line(0x1000 | cbit, asid=1, port="priv")
    await machine.write(0x1020 | cbit, b"secure processor".ljust(16), asid=1, port="priv")
    refused = await machine.issue([Read(0x3000 | cbit, 4, 2)])    # no key in slot 2
    await machine.clflush(0x2000)
    after = await machine.read_line(0x1000 | cbit, asid=1)
    # The backdoor, unaligned and across a line: a write the cores then read (a line they have
    # never cached), and a read.
    await machine.dram_write(0x4ffb, b"poked past the unit")
    poked = await machine.read(0x4fc0, 128)
    across = await machine.dram_read(0x4ff5, 30)
    return (private, partial, ciphertext, in_dram, snooped, [type(r).__name__ for r in refused], after,
            poked, across, await CacheDriver(machine).counters(), await UnitDriver(machine).counters(),
            await UnitDriver(machine).cpuid())


SYSTEMS = {
    "cached": (CACHED, lambda: _system(CACHED)),
    **{name: (board_config(name), lambda board=board: BridgedSystem(**board.system)) for name, board in BOARDS.items()},
    # The iCEBreaker's system with its rows in a Memory instead of the SPRAMs' model: the block
    # RAM passes the same checks on either storage.
    "icebreaker-memory": (board_config("icebreaker"),
                          lambda: BridgedSystem(**(BOARDS["icebreaker"].system | {"memory_storage": "memory"}))),
}


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_serial_backend_on_the_bridged_system_sees_what_the_model_sees(system):
    config, make = SYSTEMS[system]
    expected, _ = run(_scenario, backend="model", config=config)
    port = SimulatedPort(make())
    machine = SerialMachine(config, port)
    got = machine.run(_scenario)
    assert got == expected
    private, _, ciphertext, in_dram, _, refused, _, poked, _, *_ = got
    assert private == bytes(range(64)) and ciphertext != private and in_dram == ciphertext
    assert refused == ["BusError"] and b"poked past the unit" in poked
    first, second = machine.cycles, machine.cycles        # each asks the board: time passes
    assert 0 < first < second <= port.cycles


def test_the_board_top_through_its_uart_pins():
    # The iCEBreaker's top as built for the board (12 MHz, its memory system and 8-byte SPRAM
    # rows), its UART at 6 Mbaud (2 cycles a bit: the link's bits, not its rate, are the test).
    config = board_config("icebreaker")
    expected, _ = run(_scenario, backend="model", config=config)
    port = SimulatedPort(UARTLink(ICEBreakerTop(baud=6_000_000)), limit=2_000_000)
    assert SerialMachine(config, port).run(_scenario) == expected


def _raw(port, frame, answer_bytes):
    port.write(frame)
    return port.read(answer_bytes)


def test_the_bridge_answers_an_unknown_op_and_a_bad_burst_and_skips_noise():
    port = SimulatedPort(_system(CACHED))
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
        SerialMachine(CACHED, Deaf()).run(lambda m: m.read_line(0))
