"""The UART (rtl/uart): the transmitter's waveform bit by bit, the receiver against waveforms
built here (with the other end's clock 2 % off either way), its framing-error and overrun
counts, and a loopback of random bytes."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from sevlab.rtl.uart import UARTReceiver, UARTTransmitter, divisor_for


def _frame_bits(byte):
    """Start bit, eight data bits LSB first, stop bit."""
    return [0] + [byte >> n & 1 for n in range(8)] + [1]


def _run(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("divisor", [2, 5, 16])
def test_transmitter_sends_start_data_lsb_first_stop_each_held_a_bit_time(divisor):
    data = [0x55, 0x00, 0xFF, 0xA3]
    dut = UARTTransmitter(divisor)
    line = []

    async def testbench(ctx):
        queue = list(data)
        ctx.set(dut.data.valid, 1)
        ctx.set(dut.data.payload, queue[0])
        for _ in range(len(data) * 10 * divisor + 20):
            line.append(ctx.get(dut.tx))
            if ctx.get(dut.data.ready) and queue:
                queue.pop(0)
            await ctx.tick()
            ctx.set(dut.data.valid, bool(queue))
            if queue:
                ctx.set(dut.data.payload, queue[0])

    _run(dut, testbench)
    start = line.index(0)
    expected = [bit for byte in data for bit in _frame_bits(byte) for _ in range(divisor)]
    assert line[:start] == [1] * start
    assert line[start:start + len(expected)] == expected
    assert set(line[start + len(expected):]) == {1}


def _waveform(frames, divisor, skew):
    """The line level each cycle for ``frames`` (lists of bits), at ``divisor * skew`` cycles a
    bit (the other end's clock, off by ``skew``), after some idle."""
    bit_time = divisor * skew
    bits = [bit for frame in frames for bit in frame]
    idle = 3 * divisor
    total = idle + int(len(bits) * bit_time) + 4 * divisor
    return [1 if t < idle or t >= idle + len(bits) * bit_time else bits[int((t - idle) / bit_time)]
            for t in range(total)]


def _receive(divisor, levels, *, ready=True):
    dut = UARTReceiver(divisor)
    got = []

    async def testbench(ctx):
        ctx.set(dut.data.ready, ready)
        for level in levels:
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.data.valid) and ctx.get(dut.data.ready):
                got.append(ctx.get(dut.data.payload))
        return
    counts = {}

    async def counters(ctx):
        await ctx.tick().repeat(len(levels))
        counts["framing"] = ctx.get(dut.framing_errors)
        counts["overruns"] = ctx.get(dut.overruns)
        counts["waiting"] = ctx.get(dut.data.payload) if ctx.get(dut.data.valid) else None

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.add_testbench(counters)
    sim.run()
    return got, counts


@pytest.mark.parametrize("divisor", [4, 16, 217])
@pytest.mark.parametrize("skew", [0.98, 1.0, 1.02])
def test_receiver_reads_frames_from_a_clock_two_percent_off(divisor, skew):
    data = [0x55, 0x00, 0xFF, 0xA3, 0x01, 0x80]
    got, counts = _receive(divisor, _waveform([_frame_bits(b) for b in data], divisor, skew))
    assert got == data
    assert counts["framing"] == counts["overruns"] == 0


def test_receiver_drops_a_frame_whose_stop_bit_is_low_and_counts_it():
    frames = [_frame_bits(0x12), _frame_bits(0x34)[:-1] + [0], [1], _frame_bits(0x56)]
    got, counts = _receive(8, _waveform(frames, 8, 1.0))
    assert got == [0x12, 0x56] and counts["framing"] == 1


def test_receiver_keeps_a_waiting_byte_and_counts_the_one_it_had_no_room_for():
    got, counts = _receive(8, _waveform([_frame_bits(0x12), _frame_bits(0x34)], 8, 1.0), ready=False)
    assert got == [] and counts["waiting"] == 0x12 and counts["overruns"] == 1


def test_loopback_of_random_bytes():
    divisor = 3
    data = [random.Random(7).randrange(256) for _ in range(40)]
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor)
    m.submodules.rx = rx = UARTReceiver(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def testbench(ctx):
        ctx.set(rx.data.ready, 1)
        queue = list(data)
        for _ in range(len(data) * 10 * divisor + 50):
            ctx.set(tx.data.valid, bool(queue))
            if queue:
                ctx.set(tx.data.payload, queue[0])
            sent = queue and ctx.get(tx.data.ready)
            received = ctx.get(rx.data.valid)
            payload = ctx.get(rx.data.payload)
            await ctx.tick()
            if sent:
                queue.pop(0)
            if received:
                got.append(payload)

    _run(m, testbench)
    assert got == data


def test_divisor_for_refuses_rates_it_cannot_make():
    assert divisor_for(25_000_000, 115_200) == 217
    assert divisor_for(12_000_000, 115_200) == 104
    with pytest.raises(ValueError, match="2 %"):
        divisor_for(1_000_000, 300_000)
