"""The unit's golden model (sim/model/meu.py), checked against `cryptography`'s XTS and the
routing rules of rtl/meu/README.md before anything is checked against it."""

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sevlab.rtl.keyslots import KEYSLOT_REGISTERS
from sevlab.rtl.meu import KEYSLOT_WINDOW, MEU_REGISTERS
from sevlab.sim.model.meu import UnitModel, line_tweak, route

CBIT = 1 << 47
KEY1, KEY2 = bytes(range(16)), bytes(range(100, 116))    # different halves: cryptography refuses equal ones
DATA = bytes(range(64, 128))


def oracle_encrypt(key1, key2, dram_address, data):
    encryptor = Cipher(algorithms.AES(key1 + key2), modes.XTS(dram_address.to_bytes(16, "little"))).encryptor()
    return encryptor.update(data) + encryptor.finalize()


@pytest.mark.parametrize("sme, tsme, address, asid, valid, expected", [
    (False, False, 0x1000 | CBIT, 1, {1}, (0x1000 | CBIT, None, False)),   # C-bit is an address bit
    (False, True, 0x1000 | CBIT, 1, {0}, (0x1000 | CBIT, 0, False)),
    (True, False, 0x1000 | CBIT, 1, {1}, (0x1000, 1, False)),
    (True, False, 0x1000 | CBIT, 2, {1}, (0x1000, 2, True)),                # no key: refused
    (True, False, 0x1000, 2, set(), (0x1000, None, False)),                 # C=0 bypass needs no key
    (True, True, 0x1000, 2, {0}, (0x1000, 0, False)),                       # TSME: slot 0
    (True, True, 0x1000, 2, set(), (0x1000, 0, True)),                      # TSME without an SME key
])
def test_routing_rules(sme, tsme, address, asid, valid, expected):
    r = route(address, asid, sme_enable=sme, tsme=tsme, cbit_position=47, valid_slots=valid)
    assert (r.dram_address, r.slot, r.error) == expected


def test_c1_lines_are_xts_of_the_dram_line_address_as_cryptography_computes_it():
    unit = UnitModel()
    unit.sme_enable = True
    unit.install(3, KEY1, KEY2)
    assert unit.write(0x2040 | CBIT, 3, DATA)
    assert unit.dram[0x2040] == oracle_encrypt(KEY1, KEY2, 0x2040, DATA)
    assert line_tweak(0x2040) == (0x2040).to_bytes(16, "little")
    assert unit.read(0x2040 | CBIT, 3) == (True, DATA)
    assert unit.read(0x2040, 3) == (True, unit.dram[0x2040]), "C=0 sees the ciphertext"


def test_partial_write_merges_into_the_old_plaintext():
    unit = UnitModel()
    unit.sme_enable = True
    unit.install(1, KEY1, KEY2)
    unit.write(0x3000 | CBIT, 1, DATA)
    strobe = 0xFF << 8                                  # bytes 8..15
    unit.write(0x3000 | CBIT, 1, bytes([0xAA]) * 64, strobe)
    expected = DATA[:8] + bytes([0xAA]) * 8 + DATA[16:]
    assert unit.read(0x3000 | CBIT, 1) == (True, expected)
    assert unit.dram[0x3000] == oracle_encrypt(KEY1, KEY2, 0x3000, expected)
    assert unit.counters["LINES_DECRYPTED"] == 2 and unit.counters["LINES_ENCRYPTED"] == 2


def test_refused_requests_touch_nothing():
    unit = UnitModel()
    unit.sme_enable = True
    assert unit.write(0x4000 | CBIT, 5, DATA) is False
    assert unit.read(0x4000 | CBIT, 5) == (False, bytes(64))
    assert unit.dram == {} and unit.counters["ERR_NO_KEY"] == 2


def test_registers_install_through_staging_and_lock_config():
    unit = UnitModel()
    base = KEYSLOT_WINDOW[0]
    write = lambda name, **fields: unit.csr_write(base + KEYSLOT_REGISTERS[name].address,
                                                  KEYSLOT_REGISTERS[name].encode(**fields))
    write("KEY_SLOT", index=2)
    for n in range(4):
        write(f"KEY1_{n}", word=int.from_bytes(KEY1[4 * n:4 * n + 4], "little"))
        write(f"KEY2_{n}", word=int.from_bytes(KEY2[4 * n:4 * n + 4], "little"))
    assert unit.csr_read(base + KEYSLOT_REGISTERS["KEY1_0"].address) == 0, "write-only"
    write("KEY_COMMAND", op=1)
    assert unit.slot_valid(2) and unit._keys[2] == KEY1 + KEY2
    write("KEY_SLOT", index=16)
    write("KEY_COMMAND", op=1)
    status = KEYSLOT_REGISTERS["KEY_STATUS"].decode(unit.csr_read(base + KEYSLOT_REGISTERS["KEY_STATUS"].address))
    assert status["error"] == 1
    config = MEU_REGISTERS["CONFIG"]
    unit.csr_write(config.address, config.encode(sme_enable=1, cbit_position=51, lock=1))
    unit.csr_write(config.address, config.encode(tsme=1, cbit_position=47))
    assert (unit.sme_enable, unit.tsme, unit.cbit_position) == (True, False, 51)
