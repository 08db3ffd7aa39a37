"""The key-slot table (rtl/keyslots) through the unit's secure port, on Amaranth's simulator.

Security countermeasure tests are named test_sec_cm_<id> (rtl/keyslots/README.md).
"""

import pytest
from amaranth.back import rtlil

from sevlab.rtl.keyslots import KEYSLOT_REGISTERS, KeySlotTable
from sevlab.rtl.meu import KEYSLOT_WINDOW, MemoryEncryptionUnit
from sevlab.sim.machine import BusError, KeySlotDriver, KeySlotError, MachineConfig, UnitDriver, Write, run
from sevlab.sim.model.aes import aes_round_keys
from sevlab.sim.model.meu import line_tweak
from sevlab.sim.model.xts import xts_decrypt, xts_encrypt

# Compact engine: the key slots do not depend on the engine, and it simulates 3x faster.
CONFIG = MachineConfig(engine="compact", cache_bytes=0)
# The small unit (rtl/meu_small) holds the table in its "rows" layout (keys in block RAM).
ROWS_CONFIG = MachineConfig(engine="compact", cache_bytes=0, unit="small")
# The pipelined unit's table also fills the pipelines' round-key tables (round_keys=True).
ROUND_KEYS_CONFIG = MachineConfig(engine="pipelined", cache_bytes=0)
BOTH_LAYOUTS = pytest.mark.parametrize("config", [CONFIG, ROWS_CONFIG, ROUND_KEYS_CONFIG],
                                       ids=["entries", "rows", "entries-round-keys"])
ENTRIES = pytest.mark.parametrize("config", [CONFIG, ROUND_KEYS_CONFIG], ids=["entries", "entries-round-keys"])
CBIT = 1 << CONFIG.cbit_position
KEY1 = bytes(range(0x10, 0x20))
KEY2 = bytes(range(0x80, 0x90))


def keyslot_address(name):
    return KEYSLOT_WINDOW[0] + KEYSLOT_REGISTERS[name].address


def on_rtl(scenario, config=CONFIG):
    result, _ = run(scenario, backend="amaranth", config=config)
    return result


@BOTH_LAYOUTS
def test_install_query_wipe(config):
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        seen = [await keys.valid(3)]
        await keys.install(3, KEY1, KEY2)
        seen.append(await keys.valid(3))
        seen.append(await keys.valid(4))
        await keys.wipe(3)
        seen.append(await keys.valid(3))
        return seen

    assert on_rtl(scenario, config) == [False, True, False, False]


@BOTH_LAYOUTS
def test_refused_commands_report_an_error_and_change_nothing(config):
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await keys.install(2, KEY1, KEY2)
        errors = []
        with pytest.raises(KeySlotError, match="refused"):
            await keys.install(CONFIG.slots, KEY1, KEY2)          # slot out of range
        await keys.write("KEY_SLOT", index=2)
        await keys.write("KEY_COMMAND", op=3)                    # no such operation
        errors.append((await keys.read("KEY_STATUS"))["error"])
        await keys.write("KEY_SLOT", index=3)
        await keys.wipe(3)
        await keys.write("KEY_COMMAND", op=1)                    # install (10+ cycles) ...
        await keys.write("KEY_COMMAND", op=2)                    # ... and, while busy, wipe
        while (await keys.read("KEY_STATUS"))["busy"]:
            pass
        errors.append((await keys.read("KEY_STATUS"))["error"])
        return errors, await keys.valid(2), await keys.valid(3)

    errors, valid_2, valid_3 = on_rtl(scenario, config)
    assert errors == [1, 1], "an unknown op and a command while busy are refused"
    assert valid_2, "a refused command changes nothing"
    assert valid_3, "the install that was accepted ran; the wipe refused while busy did not"


@BOTH_LAYOUTS
def test_sec_cm_keyslots_key_sw_unreadable(config):
    """No register returns a key word: staged words read as zero, nothing else holds them."""
    words = {int.from_bytes(key[n:n + 4], "little") for key in (KEY1, KEY2) for n in range(0, 16, 4)}

    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await keys.write("KEY_SLOT", index=1)
        for n in range(4):
            await keys.write(f"KEY1_{n}", word=int.from_bytes(KEY1[4 * n:4 * n + 4], "little"))
        staged = [await machine.csr_read(address) for address in range(64)]   # staged, not installed
        await keys.install(1, KEY1, KEY2)
        installed = [await machine.csr_read(address) for address in range(64)]
        return staged, installed

    staged, installed = on_rtl(scenario, config)
    for when, values in (("staged", staged), ("installed", installed)):
        leaked = [(address, value) for address, value in enumerate(values) if value in words]
        assert not leaked, f"key words readable on the secure port ({when}): {leaked}"
    assert staged[keyslot_address("KEY1_0")] == 0


@ENTRIES
def test_sec_cm_keyslots_key_wipe(config):
    """A wipe zeroes the whole slot entry, and the slot's round keys in the pipelines' tables,
    and clears valid; C=1 traffic is then refused."""
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await UnitDriver(machine).configure(sme_enable=True)
        await keys.install(5, KEY1, KEY2)
        unit = machine.dut.unit
        stores = [unit.keyslots.memory.data[5]]
        if unit.ciphers.slotted:
            stores += [table.data[5] for name in ("encrypt", "decrypt")
                       for table in unit.ciphers.engines[name].round_key_tables]
        before = [await machine.peek(store) for store in stores]
        await keys.wipe(5)
        after = [await machine.peek(store) for store in stores]
        (refused,) = await machine.issue([Write(0x4000 | CBIT, bytes(64), asid=5)])
        return before, after, refused

    before, after, refused = on_rtl(scenario, config)
    assert len(before) == (1 if config is CONFIG else 1 + 2 * 11)
    for n, (held, wiped) in enumerate(zip(before, after)):
        value = lambda v: v if isinstance(v, int) else v.as_value().value
        assert value(held) != 0, f"store {n} held nothing before the wipe"
        assert value(wiped) == 0, f"wiped store {n} still holds {value(wiped):#x}"
    assert isinstance(refused, BusError)


def test_round_key_tables_hold_the_fips_197_schedule():
    """After an install, the encrypt pipeline's table for stage s holds key1's round key s and
    the decrypt pipeline's holds round key Nr - s (the model's FIPS-197 expansion)."""
    async def scenario(machine):
        await KeySlotDriver(machine).install(3, KEY1, KEY2)
        engines = machine.dut.unit.ciphers.engines
        return {name: [await machine.peek(table.data[3]) for table in engines[name].round_key_tables]
                for name in ("encrypt", "decrypt")}

    tables = on_rtl(scenario, ROUND_KEYS_CONFIG)
    schedule = [int.from_bytes(rk, "little") for rk in aes_round_keys(KEY1)]
    assert tables["encrypt"] == schedule
    assert tables["decrypt"] == schedule[::-1]


@BOTH_LAYOUTS
def test_sec_cm_keyslots_staging_clear(config):
    """Staged key words are zeroed after a command: a second install without new words
    installs the all-zero key pair, not the previous key."""
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await UnitDriver(machine).configure(sme_enable=True)
        await keys.install(1, KEY1, KEY2)
        await keys.write("KEY_SLOT", index=2)
        await keys.write("KEY_COMMAND", op=1)
        while (await keys.read("KEY_STATUS"))["busy"]:
            pass
        await machine.write_line(0x8000 | CBIT, bytes(range(64)), asid=2)
        return await machine.dram_read(0x8000, 64)

    stored = on_rtl(scenario, config)
    zero_key = bytes(32)
    assert stored == xts_encrypt(zero_key, line_tweak(0x8000), bytes(range(64)))


@ENTRIES
def test_sec_cm_keyslots_slot_atomic_update(config):
    """Re-keying a slot while its writes are in flight: each line is encrypted entirely with
    the old key or entirely with the new one."""
    new_key1, new_key2 = bytes(range(0x40, 0x50)), bytes(range(0xC0, 0xD0))
    lines = [0x20000 + 64 * n for n in range(24)]     # more than the unit holds in flight (16)
    data = {line: bytes((line >> 6) + n & 0xFF for n in range(64)) for line in lines}

    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await UnitDriver(machine).configure(sme_enable=True)
        await keys.install(1, KEY1, KEY2)
        handle = machine.start([Write(line | CBIT, data[line], asid=1) for line in lines])
        await machine.tick(30)                  # some lines are through, some are not
        await keys.install(1, new_key1, new_key2)
        await machine.wait(handle)
        return {line: await machine.dram_read(line, 64) for line in lines}

    stored = on_rtl(scenario, config)
    users = []
    for line in lines:
        old = xts_decrypt(KEY1 + KEY2, line_tweak(line), stored[line]) == data[line]
        new = xts_decrypt(new_key1 + new_key2, line_tweak(line), stored[line]) == data[line]
        assert old != new, f"line {line:#x} is not entirely under one key"
        users.append("old" if old else "new")
    assert "old" in users and "new" in users, f"the re-key did not land mid-traffic: {users}"


@pytest.mark.parametrize("key_bits", [128, 256])
def test_builds_with_509_slots(key_bits):
    table = KeySlotTable(key_bits=key_bits, slots=509, read_ports=1)
    assert "key_read__0__data" in rtlil.convert(table)
    rows = KeySlotTable(key_bits=key_bits, slots=509, layout="rows")
    assert rows.memory.depth == 4 * 509 and rows.memory.shape.width == key_bits
    assert "key_read__0__data" in rtlil.convert(rows)
    unit = MemoryEncryptionUnit(engine="compact", slots=509, key_bits=key_bits)
    assert unit.asid_width == 9
    rtlil.convert(unit)


def test_parameters_are_checked(half_built_components):
    with pytest.raises(ValueError, match="Slot count must be an integer in 2..1024, not 2000"):
        KeySlotTable(slots=2000)
    with pytest.raises(ValueError, match="not key_bits=192"):
        KeySlotTable(key_bits=192)
    with pytest.raises(ValueError, match="layout must be one of"):
        KeySlotTable(layout="columns")
    with pytest.raises(ValueError, match="one key_read port"):
        KeySlotTable(layout="rows", read_ports=2)
    with pytest.raises(ValueError, match="Only an 'entries' key table fills round-key tables"):
        KeySlotTable(layout="rows", round_keys=True)


def test_a_key_command_waits_for_read_modify_writes_in_flight():
    """A key command must not hold back the read of a partial write already admitted (it would
    wait for that write, which waits for its read): both finish, the writes under the old key."""
    lines = [0x30000 + 64 * n for n in range(6)]

    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await UnitDriver(machine).configure(sme_enable=True)
        await keys.install(1, KEY1, KEY2)
        await machine.issue([Write(line | CBIT, bytes(64), asid=1) for line in lines])
        handle = machine.start([Write(line | CBIT, b"\x5A" * 16, asid=1, strobe=0x0FF0) for line in lines])
        await machine.tick(3)
        await keys.install(2, KEY1, KEY2)
        results = await machine.wait(handle)
        return results, {line: await machine.dram_read(line, 64) for line in lines}

    results, stored = on_rtl(scenario, MachineConfig(engine="pipelined", cache_bytes=0))
    assert results == [None] * len(lines)
    expected = bytes(4) + b"\x5A" * 8 + bytes(52)
    for line in lines:
        assert xts_decrypt(KEY1 + KEY2, line_tweak(line), stored[line]) == expected


def test_rows_a_word_staged_right_after_a_refused_command_is_kept():
    """"rows" layout: a refused command zeroes the staging rows over the next cycles; a key word
    written in between lands beside zeros, not beside the old staged words."""
    async def scenario(machine):
        keys = KeySlotDriver(machine)
        await UnitDriver(machine).configure(sme_enable=True)
        await keys.write("KEY_SLOT", index=1)
        for n in range(4):          # stale words that the refused command must clear
            await keys.write(f"KEY1_{n}", word=0xFFFF_FFFF)
            await keys.write(f"KEY2_{n}", word=0xFFFF_FFFF)
        await keys.write("KEY_COMMAND", op=3)                    # refused: clears staging
        await keys.write("KEY1_0", word=0x0403_0201)             # at once, while the clear runs
        await keys.write("KEY2_3", word=0x1413_1211)
        await keys.write("KEY_COMMAND", op=1)
        while (await keys.read("KEY_STATUS"))["busy"]:
            pass
        await machine.write_line(0x8000 | CBIT, bytes(range(64)), asid=1)
        return await machine.dram_read(0x8000, 64)

    stored = on_rtl(scenario, ROWS_CONFIG)
    key1 = bytes([1, 2, 3, 4]) + bytes(12)
    key2 = bytes(12) + bytes([0x11, 0x12, 0x13, 0x14])
    assert stored == xts_encrypt(key1 + key2, line_tweak(0x8000), bytes(range(64)))


def test_rows_keys_live_one_per_row():
    """"rows" layout: key1, its decryption key and key2 each in their row Cat(which, slot)."""
    from sevlab.rtl.keyslots.table import KeyRow
    from sevlab.sim.model.aes import aes_decryption_key

    async def scenario(machine):
        await KeySlotDriver(machine).install(3, KEY1, KEY2)
        table = machine.dut.unit.keyslots
        return [await machine.peek(table.memory.data[table.row(which, 3)])
                for which in (KeyRow.KEY1, KeyRow.KEY1_DECRYPT, KeyRow.KEY2, KeyRow.STAGING)]

    key1, decrypt, key2, spare = on_rtl(scenario, ROWS_CONFIG)
    assert key1 == int.from_bytes(KEY1, "little") and key2 == int.from_bytes(KEY2, "little")
    assert decrypt == int.from_bytes(aes_decryption_key(KEY1), "little")
    assert spare == 0
