"""The memory encryption units (rtl/meu, and rtl/meu_small where the behaviour is the same) on
Amaranth's simulator, against the golden model and the XTS reference. The small unit's own
cases (its traffic variants, refusals, counters, key rows, cycles) are in test_meu_small.py.

Security countermeasure tests are named test_sec_cm_<id> (rtl/meu/README.md).
"""

import pytest

from sevlab.sim.machine import BusError, KeySlotDriver, MachineConfig, Read, UnitDriver, Write, run
from sevlab.sim.machine.traffic import TrafficPlan, run_traffic
from sevlab.sim.model.meu import line_tweak
from sevlab.sim.model.xts import xts_decrypt, xts_encrypt

COMPACT = MachineConfig(engine="compact", cache_bytes=0)
PIPELINED = MachineConfig(engine="pipelined", cache_bytes=0)
SMALL = MachineConfig(engine="compact", cache_bytes=0, unit="small")
#: The behaviour tests run on both units (the standard one on its compact engine).
UNITS = pytest.mark.parametrize("config", [COMPACT, SMALL], ids=["standard", "small"])
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


def check_against_model(scenario, *, stall, seed=11, config):
    """Run ``scenario`` on the model and on the RTL: every result, DRAM line and counter equal."""
    expected, _ = on("model", scenario, config)
    got, machine = on("amaranth", scenario, config, stall=stall, seed=seed)
    assert len(got.results) == len(expected.results)
    for n, (want, have) in enumerate(zip(expected.results, got.results)):
        assert have == want, f"operation {n}: got {have!r}, expected {want!r}"
    for line, data in expected.dram.items():
        assert got.dram[line] == data, f"DRAM line {line:#x}: {got.dram[line].hex()} != {data.hex()}"
    assert got.counters == expected.counters, f"counters {got.counters} != model's {expected.counters}"
    return got, machine


@pytest.mark.parametrize("config", [COMPACT, PIPELINED, SMALL], ids=["compact", "pipelined", "small"])
@pytest.mark.parametrize("stall", [0.0, 0.3], ids=["no-stall", "stall"])
def test_random_traffic_matches_the_model(config, stall):
    """Mixed reads and writes (C=0/C=1, partial, several ASIDs, both ports, SME/TSME/off):
    every result, every DRAM line and every counter as the golden model says."""
    plan = TrafficPlan(transactions=60 if config is PIPELINED else 120, seed=7)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    got, _ = check_against_model(scenario, stall=stall, config=config)
    assert len(got.results) == plan.transactions


@pytest.mark.extended
@pytest.mark.parametrize("config", [COMPACT, PIPELINED, SMALL], ids=["compact", "pipelined", "small"])
def test_random_traffic_long(config):
    plan = TrafficPlan(transactions=1500, seed=23, batch=16)

    async def scenario(machine):
        return await run_traffic(machine, plan)

    check_against_model(scenario, stall=0.2, seed=5, config=config)


@UNITS
def test_c0_lines_are_stored_verbatim_and_c1_lines_as_xts_of_the_line_address(config):
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x1000, PLAIN, asid=1)
        await machine.write_line(0x2000 | CBIT, PLAIN, asid=1)
        return (await machine.dram_read(0x1000, 64), await machine.dram_read(0x2000, 64),
                await machine.read_line(0x2000 | CBIT, asid=1))

    bypassed, encrypted, readback = on("amaranth", scenario, config)[0]
    assert bypassed == PLAIN
    assert encrypted == xts_line(1, 0x2000, PLAIN), "C-bit stripped, tweak = DRAM line address"
    assert readback == PLAIN


@UNITS
def test_same_plaintext_at_two_addresses_gives_different_ciphertext(config):
    async def scenario(machine):
        await setup(machine)
        await machine.issue([Write(0x3000 | CBIT, PLAIN, asid=1), Write(0x3040 | CBIT, PLAIN, asid=1)])
        return await machine.dram_read(0x3000, 64), await machine.dram_read(0x3040, 64)

    first, second = on("amaranth", scenario, config)[0]
    assert first != second
    for block in range(4):
        assert first[16 * block:16 * block + 16] != second[16 * block:16 * block + 16]


@UNITS
def test_ciphertext_moved_to_another_address_decrypts_to_garbage(config):
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x5000 | CBIT, PLAIN, asid=1)
        await machine.dram_write(0x6000, await machine.dram_read(0x5000, 64))
        return await machine.read_line(0x6000 | CBIT, asid=1)

    moved = on("amaranth", scenario, config)[0]
    assert moved != PLAIN
    assert moved == xts_decrypt(KEYS[1][0] + KEYS[1][1], line_tweak(0x6000), xts_line(1, 0x5000, PLAIN))


@UNITS
def test_a_read_with_the_wrong_asid_does_not_return_the_plaintext(config):
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x7000 | CBIT, PLAIN, asid=1)
        return await machine.read_line(0x7000 | CBIT, asid=2), await machine.read_line(0x7000, asid=1)

    other_guest, unencrypted_view = on("amaranth", scenario, config)[0]
    assert other_guest != PLAIN
    assert unencrypted_view == xts_line(1, 0x7000, PLAIN), "C=0 sees the ciphertext in DRAM"


@UNITS
def test_sec_cm_meu_tsme_no_plaintext(config):
    """TSME: a C=0 line is encrypted with slot 0; C=1 lines still use slot[ASID]."""
    async def scenario(machine):
        await setup(machine, tsme=True)
        await machine.write_line(0x8000, PLAIN, asid=2)
        await machine.write_line(0x9000 | CBIT, PLAIN, asid=2)
        return (await machine.dram_read(0x8000, 64), await machine.dram_read(0x9000, 64),
                await machine.read_line(0x8000, asid=2))

    c0, c1, readback = on("amaranth", scenario, config)[0]
    assert c0 == xts_line(0, 0x8000, PLAIN)
    assert c1 == xts_line(2, 0x9000, PLAIN)
    assert readback == PLAIN


@UNITS
def test_with_sme_disabled_the_cbit_is_an_ordinary_address_bit(config):
    async def scenario(machine):
        await setup(machine, sme=False)
        await machine.write_line(0xA000 | CBIT, PLAIN, asid=1)
        return await machine.dram_read(0xA000 | CBIT, 64), await machine.dram_read(0xA000, 64)

    high, low = on("amaranth", scenario, config)[0]
    assert high == PLAIN, "written in plaintext at the address with bit 47 set"
    assert low == bytes(64)


@UNITS
def test_sec_cm_meu_asid_no_key(config):
    """A C=1 request whose slot holds no key: SLVERR, zero data, no DRAM access at all."""
    async def scenario(machine):
        await setup(machine)
        await machine.dram_write(0xB000, PLAIN)
        before = dict(machine.stats)
        handle = machine.start([Read(0xB000 | CBIT, 4, asid=7), Write(0xB000 | CBIT, bytes(64), asid=7),
                                Read(0xB010 | CBIT, 2, asid=9, port="priv")])
        results = await machine.wait(handle)
        after = dict(machine.stats)
        counters = await UnitDriver(machine).counters()
        return results, [p.beats for p in handle], before, after, await machine.dram_read(0xB000, 64), counters

    results, beats, before, after, stored, counters = on("amaranth", scenario, config)[0]
    assert all(isinstance(result, BusError) for result in results)
    assert beats[0] == [bytes(16)] * 4 and beats[2] == [bytes(16)] * 2, "a refused read returns zeros"
    assert after == before, "the refused requests reached DRAM"
    assert stored == PLAIN
    assert counters["ERR_NO_KEY"] == 3
    assert counters["LINES_DECRYPTED"] == counters["LINES_ENCRYPTED"] == 0


@UNITS
def test_partial_c1_write_is_a_read_modify_write_of_the_plaintext(config):
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0xC000 | CBIT, PLAIN, asid=1)
        await UnitDriver(machine).clear_counters()
        await machine.write(0xC000 + 21 | CBIT, b"\xEE" * 30, asid=1)     # bytes 21..50, 3 beats
        counters = await UnitDriver(machine).counters()
        return await machine.read_line(0xC000 | CBIT, asid=1), await machine.dram_read(0xC000, 64), counters

    line, stored, counters = on("amaranth", scenario, config)[0]
    expected = PLAIN[:21] + b"\xEE" * 30 + PLAIN[51:]
    assert line == expected
    assert stored == xts_line(1, 0xC000, expected)
    # As the model counts it: one line decrypted (the read half) and one encrypted.
    assert counters["LINES_ENCRYPTED"] == 1 and counters["LINES_DECRYPTED"] == 1


@UNITS
def test_sec_cm_meu_config_lock(config):
    """CPUID reads and CONFIG: once locked, writes are ignored until reset."""
    async def scenario(machine):
        unit = UnitDriver(machine)
        cpuid = await unit.cpuid()
        status = await unit.status()
        await unit.configure(sme_enable=True, cbit_position=40, lock=True)
        await unit.configure(sme_enable=False, tsme=True, cbit_position=47)     # ignored: locked
        return cpuid, status, await unit.config(), (await unit.cpuid())["ebx"]

    for backend in ("model", "amaranth"):
        cpuid, status, unit_config, ebx = on(backend, scenario, config)[0]
        assert cpuid == {"eax": {"sme": 1, "sev": 1}, "ebx": {"cbit_position": 47, "pa_reduction": 1},
                         "ecx": {"asids": 15}, "edx": {"min_sev_asid": 1}}, backend
        assert status == {"idle": 1, "key_update": 0}, backend
        assert unit_config == {"sme_enable": 1, "tsme": 0, "cbit_position": 40, "lock": 1}, backend
        assert ebx["cbit_position"] == 40, backend



@UNITS
def test_short_reads_return_their_beats_of_the_line(config):
    async def scenario(machine):
        await setup(machine)
        await machine.write_line(0x2400 | CBIT, PLAIN, asid=2)
        await machine.write_line(0x2800, PLAIN, asid=2)
        return await machine.issue([Read(0x2410 | CBIT, 2, asid=2), Read(0x2430 | CBIT, 1, asid=2),
                                    Read(0x2820, 2, asid=2, port="priv"), Read(0x2400 | CBIT, 1, asid=2)])

    results = on("amaranth", scenario, config)[0]
    assert results == [PLAIN[16:48], PLAIN[48:64], PLAIN[32:64], PLAIN[0:16]]


@UNITS
def test_write_counters_match_the_model(config):
    """How the golden model counts C=1 writes: every one is a line encrypted; one that leaves
    any byte of the line unwritten (short burst, a partial beat, even only in its last beat, or
    a beat without strobes) is a line decrypted too. C=0 writes are lines bypassed."""
    writes = [
        Write(0xC100 | CBIT, PLAIN, asid=1),                                # whole
        Write(0xC100 | CBIT, PLAIN, asid=1, strobe=(1 << 60) - 1),          # last beat partial
        Write(0xC100 | CBIT, PLAIN, asid=1, strobe=(1 << 64) - 1 - 0xFFFF), # first beat no strobes
        Write(0xC110 | CBIT, PLAIN[:48], asid=1),                           # 3 whole beats
        Write(0xC130 | CBIT, PLAIN[:16], asid=1, strobe=0x8001),            # a beat, 2 bytes
        Write(0xC140, PLAIN, asid=1, strobe=0x0FF0),                        # C=0, partial
    ]

    async def scenario(machine):
        await setup(machine)
        await UnitDriver(machine).clear_counters()
        counters = []
        for write in writes:
            await machine.issue([write])
            counters.append(await UnitDriver(machine).counters())
        return counters, await machine.dram_read(0xC100, 128), await machine.read_line(0xC100 | CBIT, asid=1)

    expected = on("model", scenario, config)[0]
    got = on("amaranth", scenario, config)[0]
    for n, (want, have) in enumerate(zip(expected[0], got[0])):
        assert have == want, f"after write {n}: counters {have} != model's {want}"
    assert got[1:] == expected[1:]


@pytest.mark.parametrize("config", [COMPACT, PIPELINED, SMALL], ids=["compact", "pipelined", "small"])
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
