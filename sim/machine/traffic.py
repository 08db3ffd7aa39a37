"""Seeded random traffic for the memory system, the same on every backend. See ``sim/README.md``.

A run configures the unit, installs keys, and issues batches of mixed operations: reads of 1–4
beats and whole or partial writes, C=0 and C=1, several ASIDs (one of them without a key),
host and privileged ports. Between batches it changes the mode (SME off, SME, TSME), re-keys a
slot, and does cache maintenance (WBINVD, CLFLUSH). Operations of one batch touch distinct DRAM
lines in distinct cache sets (so that neither they nor the write-backs they cause meet), so
every backend must give the same results whatever order the hardware completes them in. The
run ends with a WBINVD, then reads DRAM.
"""

import random
from dataclasses import dataclass, field

from .api import BusError, Read, Write
from .drivers import CacheDriver, KeySlotDriver, UnitDriver

__all__ = ["TrafficPlan", "run_traffic"]


@dataclass
class TrafficPlan:
    transactions: int = 200
    seed: int = 1
    lines: int = 48                 # distinct DRAM lines the traffic touches
    batch: int = 12                 # operations in flight together (at most)
    keyed_asids: tuple = (0, 1, 2, 3)
    unkeyed_asid: int = 5
    base: int = 0x10_0000
    modes: tuple = ("sme", "tsme", "sme", "off")   # one phase each, in order
    maintenance: float = 0.25       # chance, after each batch, of a WBINVD or some CLFLUSHes


@dataclass
class TrafficResult:
    results: list = field(default_factory=list)     # per operation: bytes, None or "SLVERR"
    dram: dict = field(default_factory=dict)        # DRAM address -> 64 bytes, every line touched
    counters: dict = field(default_factory=dict)     # the unit's, then the cache's (CACHE_...)
    cycles: int = 0


def _key(rng, key_bits):
    return bytes(rng.randrange(256) for _ in range(key_bits // 8))


async def run_traffic(machine, plan):
    """Run ``plan`` on ``machine``; return a :class:`TrafficResult` to compare across backends."""
    rng = random.Random(plan.seed)
    config = machine.config
    cbit = 1 << config.cbit_position
    keys = KeySlotDriver(machine)
    unit = UnitDriver(machine)
    for asid in plan.keyed_asids:
        await keys.install(asid, _key(rng, config.key_bits), _key(rng, config.key_bits))
    lines = [plan.base + 64 * n for n in range(plan.lines)]
    result = TrafficResult()
    start = machine.cycles
    per_phase = -(-plan.transactions // len(plan.modes))
    done = 0
    for phase, mode in enumerate(plan.modes):
        await unit.configure(sme_enable=mode != "off", tsme=mode == "tsme")
        if phase:
            # Re-key one guest slot between phases: its old lines now decrypt to garbage.
            asid = plan.keyed_asids[1 + phase % (len(plan.keyed_asids) - 1)]
            await keys.install(asid, _key(rng, config.key_bits), _key(rng, config.key_bits))
        phase_end = min(plan.transactions, done + per_phase)
        while done < phase_end:
            count = min(plan.batch, phase_end - done)
            ops = [_random_op(rng, line, cbit, plan) for line in _batch_lines(rng, lines, count, config)]
            for op_result in await machine.issue(ops):
                result.results.append("SLVERR" if isinstance(op_result, BusError) else op_result)
            done += count
            if rng.random() < plan.maintenance:
                await _maintenance(machine, rng, lines, cbit, plan)
    await machine.wbinvd()
    # Both halves of the address space the lines touch: with SME off, the C-bit is an
    # address bit and those writes land at line | C-bit.
    for line in lines:
        for address in (line, line | cbit):
            result.dram[address] = await machine.dram_read(address, 64)
    result.counters = await unit.counters()
    if config.cache_bytes:
        cache_counters = await CacheDriver(machine).counters()
        result.counters.update({f"CACHE_{name}": value for name, value in cache_counters.items()})
    result.cycles = machine.cycles - start
    return result


def _batch_lines(rng, lines, count, config):
    """``count`` distinct lines, in distinct cache sets when there is a cache."""
    if not config.cache_bytes:
        return rng.sample(lines, count)
    sets = config.cache_bytes // 64 // config.cache_ways
    if count > sets:
        raise ValueError(f"a batch of {count} cannot touch distinct sets of a {sets}-set cache")
    chosen, seen = [], set()
    for line in rng.sample(lines, len(lines)):
        if line // 64 % sets not in seen:
            seen.add(line // 64 % sets)
            chosen.append(line)
            if len(chosen) == count:
                return chosen
    raise ValueError(f"the traffic's {len(lines)} lines cover fewer than {count} cache sets")


async def _maintenance(machine, rng, lines, cbit, plan):
    if rng.random() < 0.3:
        await machine.wbinvd()
        return
    for line in rng.sample(lines, rng.randint(1, 4)):
        address = line | (cbit if rng.random() < 0.6 else 0)
        await machine.clflush(address, asid=rng.choice(plan.keyed_asids + (plan.unkeyed_asid,)))


def _random_op(rng, line, cbit, plan):
    asid = rng.choice(plan.keyed_asids + (plan.unkeyed_asid,))
    address = line | (cbit if rng.random() < 0.6 else 0)
    port = "priv" if rng.random() < 0.15 else "host"
    first = rng.randrange(4) if rng.random() < 0.3 else 0
    beats = rng.randint(1, 4 - first) if first or rng.random() < 0.3 else 4
    address += 16 * first
    if rng.random() < 0.5:
        return Read(address, beats, asid, port)
    data = bytes(rng.randrange(256) for _ in range(16 * beats))
    strobe = None
    if rng.random() < 0.3:
        # A partial write is a contiguous byte range, as a CPU store is (and as cocotbext-axi
        # writes it: one burst per range).
        low = rng.randrange(16 * beats)
        high = rng.randint(low + 1, 16 * beats)
        strobe = ((1 << (high - low)) - 1) << low
    return Write(address, data, asid, port, strobe)
