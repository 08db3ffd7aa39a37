"""Tests of the AES golden model (``sevlab.sim.model.aes``) against FIPS-197 and the NIST AESAVS
known-answer files: block encryption and decryption, the derived S-boxes, the key expansion and the
decryption start window. See ``sim/model/README.md``.
"""

__all__ = []

import os
import re

import pytest
from sevlab.sim.model import (
    AESAVS_FILES,
    FIPS197_EXAMPLES,
    INV_SBOX,
    SBOX,
    aes_decrypt_block,
    aes_decryption_key,
    aes_encrypt_block,
    aes_round_keys,
    load_aesavs,
    vector_file,
)


def _check(vector):
    """Return the mismatches of one AESVector in both directions, as readable strings."""
    problems = []
    ciphertext = aes_encrypt_block(vector.key, vector.plaintext)
    if ciphertext != vector.ciphertext:
        problems.append(
            f"{vector.source}: encrypt gave {ciphertext.hex()}, expected {vector.ciphertext.hex()}"
        )
    plaintext = aes_decrypt_block(vector.key, vector.ciphertext)
    if plaintext != vector.plaintext:
        problems.append(
            f"{vector.source}: decrypt gave {plaintext.hex()}, expected {vector.plaintext.hex()}"
        )
    return problems


def test_fips197_appendix_c_examples():
    # Two keys (C.1, C.3), each as an encryption and a decryption vector.
    assert len(FIPS197_EXAMPLES) == 4, (
        f"got {len(FIPS197_EXAMPLES)} FIPS-197 examples, expected 4"
    )
    problems = [problem for vector in FIPS197_EXAMPLES for problem in _check(vector)]
    assert not problems, "\n".join(problems)
    directions = sorted(vector.decrypt for vector in FIPS197_EXAMPLES)
    assert directions == [False, False, True, True], (
        f"got directions {directions}, expected 2 of each"
    )


@pytest.mark.parametrize("name", AESAVS_FILES)
def test_aesavs_file(name):
    vectors = load_aesavs(name)
    # Counted independently of the loader's parser, so a parser that drops records fails here.
    text = vector_file("ciphers", "AES", "ECB", f"{name}.rsp").read_text(
        encoding="ascii"
    )
    expected_count = len(re.findall(r"^COUNT = ", text, flags=re.MULTILINE))
    assert expected_count > 0, f"{name}.rsp: found no COUNT lines"
    assert len(vectors) == expected_count, (
        f"{name}: loaded {len(vectors)} vectors, expected {expected_count}"
    )
    decrypts = sum(vector.decrypt for vector in vectors)
    assert decrypts == expected_count // 2, (
        f"{name}: {decrypts} decrypt vectors, expected {expected_count // 2}"
    )
    problems = [problem for vector in vectors for problem in _check(vector)]
    assert not problems, (
        f"{len(problems)} mismatches in {name}, first ones:\n"
        + "\n".join(problems[:10])
    )


def test_aesavs_source_names_the_record():
    vector = load_aesavs("ECBVarKey128")[3]
    assert vector.source == "ECBVarKey128.rsp[ENCRYPT]#3", f"got {vector.source!r}"
    # VarKey sets the leftmost COUNT + 1 key bits, so COUNT = 3 is f000...00.
    assert vector.key.hex() == "f0" + "00" * 15, (
        f"got key {vector.key.hex()}, expected f000...00"
    )


def test_load_aesavs_rejects_unknown_file():
    with pytest.raises(ValueError, match="ECBMMT128"):
        load_aesavs("ECBMMT128")


# FIPS-197 Appendix A, every round key (w[4r..4r+3]) of the three worked key expansions.
_APPENDIX_A = {
    "A.1": (
        "2b7e151628aed2a6abf7158809cf4f3c",
        """2b7e151628aed2a6abf7158809cf4f3c a0fafe1788542cb123a339392a6c7605 f2c295f27a96b9435935807a7359f67f
        3d80477d4716fe3e1e237e446d7a883b ef44a541a8525b7fb671253bdb0bad00 d4d1c6f87c839d87caf2b8bc11f915bc
        6d88a37a110b3efddbf98641ca0093fd 4e54f70e5f5fc9f384a64fb24ea6dc4f ead27321b58dbad2312bf5607f8d292f
        ac7766f319fadc2128d12941575c006e d014f9a8c9ee2589e13f0cc8b6630ca6""",
    ),
    "A.2": (
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        """8e73b0f7da0e6452c810f32b809079e5 62f8ead2522c6b7bfe0c91f72402f5a5 ec12068e6c827f6b0e7a95b95c56fec2
        4db7b4bd69b5411885a74796e92538fd e75fad44bb095386485af05721efb14f a448f6d94d6dce24aa326360113b30e6
        a25e7ed583b1cf9a27f939436a94f767 c0a69407d19da4e1ec1786eb6fa64971 485f703222cb8755e26d135233f0b7b3
        40beeb282f18a2596747d26b458c553e a7e1466c9411f1df821f750aad07d753 ca4005388fcc5006282d166abc3ce7b5
        e98ba06f448c773c8ecc720401002202""",
    ),
    "A.3": (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        """603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4 9ba354118e6925afa51a8b5f2067fcde
        a8b09c1a93d194cdbe49846eb75d5b9a d59aecb85bf3c917fee94248de8ebe96 b5a9328a2678a647983122292f6c79b3
        812c81addadf48ba24360af2fab8b464 98c5bfc9bebd198e268c3ba709e04214 68007bacb2df331696e939e46c518d80
        c814e20476a9fb8a5025c02d59c58239 de1369676ccc5a71fa2563959674ee15 5886ca5d2e2f31d77e0af1fa27cf73c3
        749c47ab18501ddae2757e4f7401905a cafaaae3e4d59b349adf6acebd10190d fe4890d1e6188d0b046df344706c631e""",
    ),
}


@pytest.mark.parametrize("section", sorted(_APPENDIX_A))
def test_round_keys_fips197_appendix_a(section):
    key_hex, round_keys_hex = _APPENDIX_A[section]
    expected = round_keys_hex.split()
    actual = [round_key.hex() for round_key in aes_round_keys(bytes.fromhex(key_hex))]
    assert len(actual) == len(expected), (
        f"{section}: got {len(actual)} round keys, expected {len(expected)}"
    )
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert got == want, f"{section} round key {index}: got {got}, expected {want}"


def test_round_key_counts_and_first_round_key():
    for key_bytes, rounds in ((16, 10), (24, 12), (32, 14)):
        key = os.urandom(key_bytes)
        round_keys = aes_round_keys(key)
        assert len(round_keys) == rounds + 1, (
            f"AES-{8 * key_bytes}: got {len(round_keys)} round keys, expected {rounds + 1}"
        )
        assert all(len(round_key) == 16 for round_key in round_keys), (
            f"AES-{8 * key_bytes}: round key lengths {[len(k) for k in round_keys]}, expected all 16"
        )
        # The first Nk words of the schedule are the key itself (FIPS-197 §5.2).
        assert b"".join(round_keys)[:key_bytes] == key, (
            f"AES-{8 * key_bytes}: schedule does not start with the key"
        )


def test_decryption_key_fips197_appendix_a():
    aes128 = aes_decryption_key(bytes.fromhex(_APPENDIX_A["A.1"][0]))
    assert aes128.hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6", (
        f"AES-128 window: got {aes128.hex()}"
    )
    aes256 = aes_decryption_key(bytes.fromhex(_APPENDIX_A["A.3"][0]))
    expected = "cafaaae3e4d59b349adf6acebd10190dfe4890d1e6188d0b046df344706c631e"
    assert aes256.hex() == expected, (
        f"AES-256 window: got {aes256.hex()}, expected {expected}"
    )


@pytest.mark.parametrize("key_bytes", [16, 24, 32])
def test_decryption_key_is_the_end_of_the_schedule(key_bytes):
    for _ in range(20):
        key = os.urandom(key_bytes)
        round_keys = aes_round_keys(key)
        window = aes_decryption_key(key)
        if key_bytes == 16:
            expected = round_keys[10]
        elif key_bytes == 32:
            expected = round_keys[13] + round_keys[14]
        else:
            # AES-192: Nk = 6 words, w[46..51], which straddles round keys 11 and 12.
            expected = round_keys[11][8:] + round_keys[12]
        assert window == expected, (
            f"key {key.hex()}: got window {window.hex()}, expected {expected.hex()}"
        )


def test_sbox_fips197_values():
    # FIPS-197 Figure 7 row 0 column 0, and the §5.1.1 worked example {53} -> {ed}.
    assert SBOX[0x00] == 0x63, f"SBOX[0x00] is {SBOX[0x00]:#04x}, expected 0x63"
    assert SBOX[0x53] == 0xED, f"SBOX[0x53] is {SBOX[0x53]:#04x}, expected 0xed"
    assert INV_SBOX[0x63] == 0x00, (
        f"INV_SBOX[0x63] is {INV_SBOX[0x63]:#04x}, expected 0x00"
    )
    assert INV_SBOX[0xED] == 0x53, (
        f"INV_SBOX[0xed] is {INV_SBOX[0xED]:#04x}, expected 0x53"
    )


def test_sboxes_are_inverse_permutations():
    for name, table in (("SBOX", SBOX), ("INV_SBOX", INV_SBOX)):
        assert isinstance(table, tuple) and len(table) == 256, (
            f"{name} is {type(table).__name__} of {len(table)}"
        )
        assert sorted(table) == list(range(256)), (
            f"{name} is not a permutation of 0..255"
        )
    wrong = [x for x in range(256) if INV_SBOX[SBOX[x]] != x or SBOX[INV_SBOX[x]] != x]
    assert not wrong, (
        f"INV_SBOX is not the inverse of SBOX at {[hex(x) for x in wrong]}"
    )
    # The AES S-box has no fixed points and no opposite fixed points (a design property).
    fixed = [x for x in range(256) if SBOX[x] in (x, x ^ 0xFF)]
    assert not fixed, f"SBOX has (opposite) fixed points at {[hex(x) for x in fixed]}"


@pytest.mark.parametrize("function", [aes_encrypt_block, aes_decrypt_block])
@pytest.mark.parametrize("key_bytes", [0, 8, 15, 17, 31, 33, 64])
def test_block_functions_reject_bad_key_length(function, key_bytes):
    with pytest.raises(ValueError, match=f"not {key_bytes} bytes"):
        function(bytes(key_bytes), bytes(16))


@pytest.mark.parametrize("function", [aes_encrypt_block, aes_decrypt_block])
@pytest.mark.parametrize("block_bytes", [0, 1, 15, 17, 32])
def test_block_functions_reject_bad_block_length(function, block_bytes):
    with pytest.raises(
        ValueError, match=f"AES block must be 16 bytes, not {block_bytes} bytes"
    ):
        function(bytes(16), bytes(block_bytes))


@pytest.mark.parametrize("function", [aes_round_keys, aes_decryption_key])
@pytest.mark.parametrize("key_bytes", [0, 15, 20, 33])
def test_key_schedule_rejects_bad_key_length(function, key_bytes):
    with pytest.raises(
        ValueError, match=f"AES key must be 16, 24 or 32 bytes, not {key_bytes} bytes"
    ):
        function(bytes(key_bytes))


def test_non_bytes_arguments_raise_type_error():
    with pytest.raises(TypeError, match="AES key must be bytes, not str"):
        aes_encrypt_block("00" * 16, bytes(16))
    with pytest.raises(TypeError, match="AES block must be bytes, not int"):
        aes_decrypt_block(bytes(16), 0)
    # bytearray and memoryview are bytes-like and accepted.
    expected = aes_encrypt_block(bytes(16), bytes(16))
    actual = aes_encrypt_block(bytearray(16), memoryview(bytes(16)))
    assert actual == expected, (
        f"bytes-like inputs gave {actual.hex()}, expected {expected.hex()}"
    )
