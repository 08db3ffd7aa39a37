"""The cache's figures for ``sevlab bench --parts cache``: latencies, streaming, WBINVD.

Measured on the whole memory system (cache in front of the unit) in the cycle-accurate
simulation, with the same fixed-latency DRAM model as the unit's figures
(``sim/bench_unit.py``). Every line read back is checked against what was written.
"""

import time

from .bench_unit import span_rate
from .machine import CacheDriver, KeySlotDriver, MachineConfig, Read, UnitDriver, Write, run

__all__ = ["measure_cache"]

_KEY1 = bytes(range(16, 48))
_KEY2 = bytes(range(64, 96))


def measure_cache(*, engine="pipelined", key_bits=128, backend="amaranth", cache_bytes=8192,
                  cache_ways=4, memory_latency=16):
    """One row: read latencies (hit, misses), streaming rates, WBINVD cycles.

    Streams are as many lines as the cache holds, offered all at once: C=1 whole-line writes
    into an empty cache (allocated without a fill), C=1 writes into a cache full of dirty lines
    (each evicts one), C=1 reads that miss (clean victims), and the same reads again (hits).

    Raises
    ------
    AssertionError
        A line read back differs from what was written.
    """
    config = MachineConfig(engine=engine, key_bits=key_bits, memory_latency=memory_latency,
                           cache_bytes=cache_bytes, cache_ways=cache_ways)
    cbit = 1 << config.cbit_position
    lines = cache_bytes // 64
    first = [0x40_0000 + 64 * n for n in range(lines)]
    second = [0x80_0000 + 64 * n for n in range(lines)]
    data = {line: bytes((line // 64 + k) & 0xFF for k in range(64)) for line in first + second}
    figures = {}

    async def stream(machine, ops):
        handle = machine.start(ops)
        return handle, await machine.wait(handle)

    async def latency(machine, address):
        await machine.tick(40)                  # idle: nothing in flight
        (single,) = handle = machine.start([Read(address, 4, asid=1)])
        await machine.wait(handle)
        return single.first_data - single.issued

    async def scenario(machine):
        await KeySlotDriver(machine).install(1, _KEY1[:key_bits // 8], _KEY2[:key_bits // 8])
        await UnitDriver(machine).configure(sme_enable=True)
        cache = CacheDriver(machine)
        handle, _ = await stream(machine, [Write(line | cbit, data[line], asid=1) for line in first])
        figures["write_allocate"] = span_rate(handle)
        handle, _ = await stream(machine, [Write(line | cbit, data[line], asid=1) for line in second])
        figures["write_evict"] = span_rate(handle)
        figures["wbinvd_dirty"] = await cache.wbinvd()
        figures["wbinvd_clean"] = await cache.wbinvd()
        for name, lines_read in (("read_miss", first), ("read_hit", first)):
            handle, results = await stream(machine, [Read(line | cbit, 4, asid=1) for line in lines_read])
            if results != [data[line] for line in lines_read]:
                raise AssertionError(f"cache {engine} {key_bits}: read-back differs from what was written")
            figures[name] = span_rate(handle)
        figures["hit"] = await latency(machine, first[0] | cbit)
        await machine.wbinvd()
        figures["miss_c0"] = await latency(machine, first[0])
        figures["miss_c1"] = await latency(machine, first[1] | cbit)
        # A miss whose victim is dirty: fill one set with dirty lines, then read another line of it.
        sets = lines // cache_ways
        for way in range(cache_ways):
            await machine.write_line(second[sets * way] | cbit, data[second[sets * way]], asid=1)
        figures["miss_c1_dirty_victim"] = await latency(machine, first[0] | cbit)

    started = time.perf_counter()
    _, machine = run(scenario, backend=backend, config=config)
    seconds = time.perf_counter() - started
    return {
        "what": "cache", "engine": engine, "key_bits": key_bits, "backend": backend,
        "cache_bytes": cache_bytes, "ways": cache_ways, "lines": lines,
        "read_latency_cycles": {name: figures[name] for name in
                                ("hit", "miss_c0", "miss_c1", "miss_c1_dirty_victim")},
        "bytes_per_cycle": {name: round(figures[name], 3) for name in
                            ("write_allocate", "write_evict", "read_miss", "read_hit")},
        "wbinvd_cycles": {"all_dirty": figures["wbinvd_dirty"], "clean": figures["wbinvd_clean"]},
        "memory_latency_cycles": memory_latency,
        "cycles": machine.cycles,
        "cycles_per_second": round(machine.cycles / seconds),
    }
