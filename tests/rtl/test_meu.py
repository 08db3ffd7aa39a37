"""The memory encryption unit (rtl/meu) on Amaranth's simulator, against the golden model.

Security countermeasure tests are named test_sec_cm_<id> (rtl/meu/README.md).
"""

import pytest

from sevlab.sim.machine import BusError, KeySlotDriver, MachineConfig, Read, UnitDriver, Write, run
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic
from sevlab.sim.model.meu import line_tweak
from sevlab.sim.model.xts import xts_decrypt, xts_encrypt

COMPACT = MachineConfig(engine="compact", cache_bytes=0)
PIPELINED = MachineConfig(engine="pipelined", cache_bytes=0)
CBIT = 1 << 47
KEYS = {asid: (bytes([asid] * 15 + [0x10]), bytes([asid] * 15 + [0x20])) for asid in (0, 1, 2)}
PLAIN = bytes(range(64))


def on(backend, scenario, config=COMPACT, **options):
    result, machine = run(scenario, backend=backend, config=config, **options)
    return result, machine


async def setup(machine, *, tsme=False, sme=True):
    keys = KeySlotDriver(machine)
    for asid, (key1, key2) in KEYS.items():
        await keys.install(asid, key1, key2)
    await UnitDriver(machine).configure(sme_enable=sme, tsme=tsme)


def xts_line(asid, dram_address, data):
    key1, key2 = KEYS[asid]
    return xts_encrypt(key1 + key2, line_tweak(dram_address), data)


@pytest.mark.parametrize("config", [COMPACT, PIPELINED], ids=["compact", "pipelined"])
@pytest.mark.parametrize("stall", [0.0, 0.3], ids=["no-stall", "stall"])
def test_random_traffic_matches_the_model(config, stall):
    """Mixed reads and writes (C=0/C=1, partial, several ASIDs, both ports, SME/TSME/off):
    every result, every DRAM line and every counter as the golden model says."""
    plan = TrafficPlan(transactions=120 if config is COMPACT else 60, seed=7)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    expected, _ = on("model", scenario, config)
    got, _ = on("amaranth", scenario, config, stall=stall, seed=11)
    for n, (want, have) in enumerate(zip(expected.results, got.results)):
        assert have == want, f"operation {n}: got {have!r}, expected {want!r}"
    assert len(got.results) == plan.transactions
    for line, data in expected.dram.items():
        assert got.dram[line] == data, f"DRAM line {line:#x}: {got.dram[line].hex()} != {data.hex()}"
    assert got.counters == expected.counters


@pytest.mark.extended
@pytest.mark.parametrize("config", [COMPACT, PIPELINED], ids=["compact", "pipelined"])
def test_random_traffic_long(config):
    plan = TrafficPlan(transactions=1500, seed=23, batch=16)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    expected, _ = on("model", scenario, config)
    got, _ = on("amaranth", scenario, config, stall=0.2, seed=5)
    assert got.results == expected.results
    assert got.dram == expected.dram
    assert got.counters == expected.counters


def test_c0_lines_are_stored_verbatim_and_c1_lines_as_xts_of_the_line_address():
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x1000, PLAIN, asid=1)
        await machine.write_line(0x2000 | CBIT, PLAIN, asid=1)
        return await machine.dram_read(0x1000, 64), await machine.dram_read(0x2000, 64)

    bypassed, encrypted = on("amaranth", scenario)[0]
    assert bypassed == PLAIN
    assert encrypted == xts_line(1, 0x2000, PLAIN), "C-bit stripped, tweak = DRAM line address"


def test_same_plaintext_at_two_addresses_gives_different_ciphertext():
    async def scenario(machine):
        await setup(machine)
        await machine.issue([Write(0x3000 | CBIT, PLAIN, asid=1), Write(0x3040 | CBIT, PLAIN, asid=1)])
        return await machine.dram_read(0x3000, 64), await machine.dram_read(0x3040, 64)

    first, second = on("amaranth", scenario)[0]
    assert first != second
    for block in range(4):
        assert first[16 * block:16 * block + 16] != second[16 * block:16 * block + 16]


def test_ciphertext_moved_to_another_address_decrypts_to_garbage():
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x5000 | CBIT, PLAIN, asid=1)
        await machine.dram_write(0x6000, await machine.dram_read(0x5000, 64))
        return await machine.read_line(0x6000 | CBIT, asid=1)

    moved = on("amaranth", scenario)[0]
    assert moved != PLAIN
    assert moved == xts_decrypt(KEYS[1][0] + KEYS[1][1], line_tweak(0x6000), xts_line(1, 0x5000, PLAIN))


def test_a_read_with_the_wrong_asid_does_not_return_the_plaintext():
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x7000 | CBIT, PLAIN, asid=1)
        return await machine.read_line(0x7000 | CBIT, asid=2), await machine.read_line(0x7000, asid=1)

    other_guest, unencrypted_view = on("amaranth", scenario)[0]
    assert other_guest != PLAIN
    assert unencrypted_view == xts_line(1, 0x7000, PLAIN), "C=0 sees the ciphertext in DRAM"


def test_sec_cm_meu_tsme_no_plaintext():
    """TSME: a C=0 line is encrypted with slot 0; C=1 lines still use slot[ASID]."""
    async def scenario(machine):
        await setup(machine, tsme=True)
        await machine.write_line(0x8000, PLAIN, asid=2)
        await machine.write_line(0x9000 | CBIT, PLAIN, asid=2)
        return (await machine.dram_read(0x8000, 64), await machine.dram_read(0x9000, 64),
                await machine.read_line(0x8000, asid=2))

    c0, c1, readback = on("amaranth", scenario)[0]
    assert c0 == xts_line(0, 0x8000, PLAIN)
    assert c1 == xts_line(2, 0x9000, PLAIN)
    assert readback == PLAIN


def test_with_sme_disabled_the_cbit_is_an_ordinary_address_bit():
    async def scenario(machine):
        await setup(machine, sme=False)
        await machine.write_line(0xA000 | CBIT, PLAIN, asid=1)
        return await machine.dram_read(0xA000 | CBIT, 64), await machine.dram_read(0xA000, 64)

    high, low = on("amaranth", scenario)[0]
    assert high == PLAIN, "written in plaintext at the address with bit 47 set"
    assert low == bytes(64)


def test_sec_cm_meu_asid_no_key():
    """A C=1 request whose slot holds no key: an error response, no DRAM access at all."""
    async def scenario(machine):
        await setup(machine)
        await machine.dram_write(0xB000, PLAIN)
        before = dict(machine.stats)
        results = await machine.issue([Read(0xB000 | CBIT, 4, asid=7), Write(0xB000 | CBIT, bytes(64), asid=7),
                                       Read(0xB010 | CBIT, 2, asid=9, port="priv")])
        after = dict(machine.stats)
        counters = await UnitDriver(machine).counters()
        return results, before, after, await machine.dram_read(0xB000, 64), counters

    results, before, after, stored, counters = on("amaranth", scenario)[0]
    assert all(isinstance(result, BusError) for result in results)
    assert after == before, "the refused requests reached DRAM"
    assert stored == PLAIN
    assert counters["ERR_NO_KEY"] == 3


def test_partial_c1_write_is_a_read_modify_write_of_the_plaintext():
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0xC000 | CBIT, PLAIN, asid=1)
        await machine.write(0xC000 + 21 | CBIT, b"\xEE" * 30, asid=1)     # bytes 21..50, 3 beats
        return await machine.read_line(0xC000 | CBIT, asid=1), await machine.dram_read(0xC000, 64)

    line, stored = on("amaranth", scenario)[0]
    expected = PLAIN[:21] + b"\xEE" * 30 + PLAIN[51:]
    assert line == expected
    assert stored == xts_line(1, 0xC000, expected)


def test_sec_cm_meu_config_lock():
    """CPUID reads and CONFIG: once locked, writes are ignored until reset."""
    async def scenario(machine):
        unit = UnitDriver(machine)
        cpuid = await unit.cpuid()
        await unit.configure(sme_enable=True, cbit_position=40, lock=True)
        await unit.configure(sme_enable=False, tsme=True, cbit_position=47)     # ignored: locked
        return cpuid, await unit.config(), (await unit.cpuid())["ebx"]

    for backend in ("model", "amaranth"):
        cpuid, config, ebx = on(backend, scenario)[0]
        assert cpuid == {"eax": {"sme": 1, "sev": 1}, "ebx": {"cbit_position": 47, "pa_reduction": 1},
                         "ecx": {"asids": 15}, "edx": {"min_sev_asid": 1}}, backend
        assert config == {"sme_enable": 1, "tsme": 0, "cbit_position": 40, "lock": 1}, backend
        assert ebx["cbit_position"] == 40, backend


@pytest.mark.parametrize("config", [COMPACT, PIPELINED], ids=["compact", "pipelined"])
def test_partial_writes_to_one_line_in_flight_together_apply_in_order(config):
    """Eight overlapping partial writes to one C=1 line, all in flight at once (each a
    read-modify-write), then a read: the line is the writes applied in issue order."""
    writes = [Write(0xD000 + 16 * (n % 4) | CBIT, bytes([0x10 + n]) * 16, asid=1,
                    strobe=((1 << (4 + n)) - 1) << (n % 3)) for n in range(8)]

    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0xD000 | CBIT, PLAIN, asid=1)
        results = await machine.issue(writes)
        return results, await machine.read_line(0xD000 | CBIT, asid=1)

    expected = bytearray(PLAIN)
    for write in writes:
        offset = write.address % 64
        for n in range(16):
            if write.strobe >> n & 1:
                expected[offset + n] = write.data[n]
    results, line = on("amaranth", scenario, config)[0]
    assert results == [None] * 8
    assert line == bytes(expected), f"{line.hex()} != {bytes(expected).hex()}"
