"""The memory encryption unit's figures for ``sevlab bench``: throughput and read latency.

Measured in the cycle-accurate simulation with the fixed-latency DRAM model of the machine's
testbench (``memory_latency``: cycles from the DRAM AR handshake to the first R beat). Every
result is checked against the golden model first.
"""

import time

from .machine import KeySlotDriver, MachineConfig, Read, UnitDriver, Write, run

__all__ = ["measure_unit", "span_rate"]

_KEY1 = bytes(range(16, 48))
_KEY2 = bytes(range(64, 96))


def span_rate(pendings):
    """Bytes a cycle in steady state: lines completed after the first, over the cycles between."""
    done = sorted(p.done_at for p in pendings)
    if len(done) < 2 or done[-1] == done[0]:
        return float("nan")
    return 64 * (len(done) - 1) / (done[-1] - done[0])


def measure_unit(*, engine="pipelined", key_bits=128, backend="amaranth", lines=64,
                 memory_latency=16):
    """One row: write and read bytes a cycle (C=1), read latency C=0 and C=1, sim speed.

    Raises
    ------
    AssertionError
        A result differs from what was written (a benchmark of a wrong answer is worth nothing).
    """
    config = MachineConfig(engine=engine, key_bits=key_bits, memory_latency=memory_latency,
                           cache_bytes=0)
    cbit = 1 << config.cbit_position
    base = 0x40_0000
    data = [bytes((n + k) & 0xFF for k in range(64)) for n in range(lines)]
    figures = {}

    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await keys.install(1, _KEY1[:key_bits // 8], _KEY2[:key_bits // 8])
        await UnitDriver(machine).configure(sme_enable=True)
        writes = machine.start([Write(base + 64 * n | cbit, data[n], asid=1) for n in range(lines)])
        await machine.wait(writes)
        figures["write"] = span_rate(writes)
        reads = machine.start([Read(base + 64 * n | cbit, 4, asid=1) for n in range(lines)])
        results = await machine.wait(reads)
        if results != data:
            raise AssertionError(f"unit {engine} {key_bits}: read-back differs from what was written")
        figures["read"] = span_rate(reads)
        for name, address in (("c0", base), ("c1", base | cbit)):
            await machine.tick(40)              # idle: nothing in flight
            (single,) = handle = machine.start([Read(address, 4, asid=1)])
            await machine.wait(handle)
            figures[name] = single.first_data - single.issued

    started = time.perf_counter()
    _, machine = run(scenario, backend=backend, config=config)
    seconds = time.perf_counter() - started
    rounds = 10 if key_bits == 128 else 14
    return {
        "what": "unit", "engine": engine, "key_bits": key_bits, "backend": backend,
        "aes_rounds": rounds, "lines": lines,
        "write_bytes_per_cycle": round(figures["write"], 3),
        "read_bytes_per_cycle": round(figures["read"], 3),
        "read_latency_cycles": {"c0": figures["c0"], "c1": figures["c1"]},
        "memory_latency_cycles": memory_latency,
        "cycles": machine.cycles,
        "cycles_per_second": round(machine.cycles / seconds),
    }
