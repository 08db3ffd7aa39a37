"""Published known-answer vectors for the AES and XTS golden models: loaders for the NIST AESAVS and
XTSVS response files shipped by the ``cryptography-vectors`` package, the IEEE 1619 Annex B
XTS-AES-128 vectors and the FIPS-197 Appendix C examples. The NIST files are read lazily, so
importing this module does not need ``cryptography-vectors`` (a test extra). See
``sim/model/README.md``.
"""

__all__ = [
    "AESAVS_FILES",
    "FIPS197_EXAMPLES",
    "IEEE1619_VECTORS",
    "XTS_TWEAK_FORMS",
    "AESVector",
    "XTSVector",
    "load_aesavs",
    "load_xts",
    "vector_file",
]

import importlib
import pathlib
from dataclasses import dataclass

#: The AESAVS ECB known-answer files (NIST AESAVS §6.2, §6.3) that `load_aesavs` accepts.
AESAVS_FILES = (
    "ECBGFSbox128",
    "ECBKeySbox128",
    "ECBVarKey128",
    "ECBVarTxt128",
    "ECBGFSbox256",
    "ECBKeySbox256",
    "ECBVarKey256",
    "ECBVarTxt256",
)

#: The two XTSVS tweak encodings that `load_xts` accepts; each names a folder of the package.
XTS_TWEAK_FORMS = ("128hexstr", "dataunitseqno")

_SECTIONS = {"[ENCRYPT]": False, "[DECRYPT]": True}


@dataclass(frozen=True)
class AESVector:
    """One AES known-answer test: ``aes_encrypt_block(key, plaintext) == ciphertext``.

    Attributes
    ----------
    key : bytes
        The cipher key, 16, 24 or 32 bytes.
    plaintext, ciphertext : bytes
        16-byte blocks.
    decrypt : bool
        True if the vector comes from a decryption section (input ``ciphertext``, expected output
        ``plaintext``); the relation between the three values is the same either way.
    source : str
        Where the vector comes from, e.g. ``"ECBVarKey128.rsp[ENCRYPT]#3"``.
    """

    key: bytes
    plaintext: bytes
    ciphertext: bytes
    decrypt: bool
    source: str


@dataclass(frozen=True)
class XTSVector:
    """One XTS-AES known-answer test: ``xts_encrypt(key, tweak, plaintext) == ciphertext``.

    Attributes
    ----------
    key : bytes
        ``key1‖key2``, 32 or 64 bytes.
    tweak : bytes
        The 16-byte tweak value (``i`` in XTSVS; a data unit sequence number ``n`` is
        ``n.to_bytes(16, "little")``).
    plaintext, ciphertext : bytes
        One data unit, a whole number of 16-byte blocks.
    decrypt : bool
        True if the vector comes from a decryption section.
    source : str
        Where the vector comes from, e.g. ``"tweak-128hexstr/XTSGenAES128.rsp[DECRYPT]#7"``.
    """

    key: bytes
    tweak: bytes
    plaintext: bytes
    ciphertext: bytes
    decrypt: bool
    source: str


def vector_file(*parts: str) -> pathlib.Path:
    """Return the path of a file shipped by the ``cryptography-vectors`` package.

    Parameters
    ----------
    *parts : str
        Path components below the package folder, e.g. ``"ciphers", "AES", "ECB", "ECBVarKey128.rsp"``.

    Returns
    -------
    pathlib.Path
        The file's path (whether or not it exists).

    Raises
    ------
    ModuleNotFoundError
        If ``cryptography-vectors`` is not installed (it is in the ``test`` extra).
    """
    try:
        package = importlib.import_module("cryptography_vectors")
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "the NIST vector files come from the cryptography-vectors package; "
            "install it with `pip install -e '.[test]'`",
            name="cryptography_vectors",
        ) from error
    return pathlib.Path(package.__file__).parent.joinpath(*parts)


def _parse_rsp(path):
    """Parse a CAVP ``.rsp`` file into ``(decrypt, fields, line)`` records, one per ``COUNT``.

    Raises
    ------
    ValueError
        If a line is neither a comment, a section header nor ``NAME = value``, or a field appears
        outside a section or before the first ``COUNT``.
    """
    records = []
    decrypt = None
    # Text mode with universal newlines: the XTS files use CRLF, the ECB files LF.
    with open(path, encoding="ascii") as file:
        for line_number, raw in enumerate(file, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                if line not in _SECTIONS:
                    raise ValueError(
                        f"{path.name}:{line_number}: unknown section {line!r}"
                    )
                decrypt = _SECTIONS[line]
                continue
            name, equals, value = (part.strip() for part in line.partition("="))
            if not equals or not name:
                raise ValueError(
                    f"{path.name}:{line_number}: expected 'NAME = value', not {line!r}"
                )
            if decrypt is None:
                raise ValueError(
                    f"{path.name}:{line_number}: {name} appears before any section"
                )
            if name == "COUNT":
                records.append((decrypt, {"COUNT": value}, line_number))
            elif not records or records[-1][0] != decrypt:
                raise ValueError(
                    f"{path.name}:{line_number}: {name} appears before COUNT"
                )
            else:
                records[-1][1][name] = value
    return records


def _field(fields, name, path, line_number):
    try:
        return fields[name]
    except KeyError:
        raise ValueError(
            f"{path.name}:{line_number}: record has no {name} field"
        ) from None


def load_aesavs(name: str) -> list[AESVector]:
    """Load every vector of one NIST AESAVS ECB known-answer file.

    Parameters
    ----------
    name : str
        One of `AESAVS_FILES`, without the ``.rsp`` suffix.

    Returns
    -------
    list of AESVector
        The encryption vectors followed by the decryption vectors, in file order.

    Raises
    ------
    ValueError
        If ``name`` is not in `AESAVS_FILES`, or the file is malformed (a missing field, or a key
        or block of the wrong length).
    ModuleNotFoundError
        If ``cryptography-vectors`` is not installed.
    """
    if name not in AESAVS_FILES:
        raise ValueError(
            f"AESAVS file must be one of {', '.join(AESAVS_FILES)}, not {name!r}"
        )
    key_bytes = int(name[-3:]) // 8
    path = vector_file("ciphers", "AES", "ECB", f"{name}.rsp")
    vectors = []
    for decrypt, fields, line_number in _parse_rsp(path):
        key = bytes.fromhex(_field(fields, "KEY", path, line_number))
        plaintext = bytes.fromhex(_field(fields, "PLAINTEXT", path, line_number))
        ciphertext = bytes.fromhex(_field(fields, "CIPHERTEXT", path, line_number))
        if len(key) != key_bytes or len(plaintext) != 16 or len(ciphertext) != 16:
            raise ValueError(
                f"{path.name}:{line_number}: expected a {key_bytes}-byte key and 16-byte blocks, not "
                f"{len(key)}, {len(plaintext)} and {len(ciphertext)} bytes"
            )
        section = "DECRYPT" if decrypt else "ENCRYPT"
        vectors.append(
            AESVector(
                key=key,
                plaintext=plaintext,
                ciphertext=ciphertext,
                decrypt=decrypt,
                source=f"{name}.rsp[{section}]#{fields['COUNT']}",
            )
        )
    return vectors


def load_xts(key_bits: int, tweak_form: str = "128hexstr") -> list[XTSVector]:
    """Load the whole-block vectors of one NIST XTSVS ``XTSGenAES*.rsp`` file.

    Vectors whose ``DataUnitLen`` is not a multiple of 128 bits are skipped by design: they need
    ciphertext stealing, which the golden model does not implement (the memory encryption unit only
    encrypts whole 16-byte blocks).

    Parameters
    ----------
    key_bits : int
        128 (XTS-AES-128, 32-byte keys) or 256 (XTS-AES-256, 64-byte keys).
    tweak_form : str
        ``"128hexstr"``: the tweak is given as the 16-byte hex string ``i``.
        ``"dataunitseqno"``: the tweak is given as the decimal ``DataUnitSeqNumber`` ``n`` and
        becomes ``n.to_bytes(16, "little")`` (IEEE 1619 §5.1).

    Returns
    -------
    list of XTSVector
        The whole-block encryption vectors followed by the decryption vectors, in file order.

    Raises
    ------
    ValueError
        If ``key_bits`` or ``tweak_form`` is not one of the values above, or the file is malformed.
    ModuleNotFoundError
        If ``cryptography-vectors`` is not installed.
    """
    if key_bits not in (128, 256) or isinstance(key_bits, bool):
        raise ValueError(f"XTS key size must be 128 or 256 bits, not {key_bits!r}")
    if tweak_form not in XTS_TWEAK_FORMS:
        raise ValueError(
            f"XTS tweak form must be one of {', '.join(XTS_TWEAK_FORMS)}, not {tweak_form!r}"
        )
    relative = f"tweak-{tweak_form}/XTSGenAES{key_bits}.rsp"
    path = vector_file("ciphers", "AES", "XTS", *relative.split("/"))
    key_bytes = 2 * key_bits // 8
    vectors = []
    for decrypt, fields, line_number in _parse_rsp(path):
        data_unit_bits = int(_field(fields, "DataUnitLen", path, line_number))
        if data_unit_bits % 128:
            continue
        key = bytes.fromhex(_field(fields, "Key", path, line_number))
        if tweak_form == "128hexstr":
            tweak = bytes.fromhex(_field(fields, "i", path, line_number))
        else:
            sequence_number = int(
                _field(fields, "DataUnitSeqNumber", path, line_number)
            )
            tweak = sequence_number.to_bytes(16, "little")
        plaintext = bytes.fromhex(_field(fields, "PT", path, line_number))
        ciphertext = bytes.fromhex(_field(fields, "CT", path, line_number))
        data_unit_bytes = data_unit_bits // 8
        if (
            len(key) != key_bytes
            or len(tweak) != 16
            or len(plaintext) != data_unit_bytes
            or len(ciphertext) != data_unit_bytes
        ):
            raise ValueError(
                f"{path.name}:{line_number}: expected a {key_bytes}-byte key, a 16-byte tweak and "
                f"{data_unit_bytes}-byte data, not {len(key)}, {len(tweak)}, {len(plaintext)} and "
                f"{len(ciphertext)} bytes"
            )
        section = "DECRYPT" if decrypt else "ENCRYPT"
        vectors.append(
            XTSVector(
                key=key,
                tweak=tweak,
                plaintext=plaintext,
                ciphertext=ciphertext,
                decrypt=decrypt,
                source=f"{relative}[{section}]#{fields['COUNT']}",
            )
        )
    return vectors


def _fips197(section, key_hex, ciphertext_hex):
    key = bytes.fromhex(key_hex)
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    ciphertext = bytes.fromhex(ciphertext_hex)
    return tuple(
        AESVector(
            key,
            plaintext,
            ciphertext,
            decrypt,
            f"FIPS-197 Appendix {section} ({direction})",
        )
        for decrypt, direction in ((False, "Cipher"), (True, "InvCipher"))
    )


#: FIPS-197 Appendix C.1 (AES-128) and C.3 (AES-256) example vectors, each as an encryption and a
#: decryption vector.
FIPS197_EXAMPLES = (
    *_fips197(
        "C.1", "000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"
    ),
    *_fips197(
        "C.3",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "8ea2b7ca516745bfeafc49904b496089",
    ),
)


def _ieee1619(
    number, key1_hex, key2_hex, sequence_number, plaintext_hex, ciphertext_hex
):
    return XTSVector(
        key=bytes.fromhex(key1_hex + key2_hex),
        # IEEE 1619 §5.1: the data unit sequence number becomes the tweak as a little-endian
        # 128-bit value, so sequence number 0x3333333333 is the tweak 3333333333000000...00.
        tweak=sequence_number.to_bytes(16, "little"),
        plaintext=bytes.fromhex(plaintext_hex),
        ciphertext=bytes.fromhex(ciphertext_hex),
        decrypt=False,
        source=f"IEEE 1619-2007 Annex B Vector {number}",
    )


#: IEEE P1619/D16 (May 2007, published as IEEE Std 1619-2007), Annex B.1 "XTS-AES applied for a data
#: unit of 32 bytes, 32 bytes key material", vectors 1 to 3. The values were cross-checked against
#: several independent copies of the annex (QEMU's crypto cipher unit test among them);
#: vectors 2 and 3 also against cryptography's XTS mode, which refuses vector 1's key1 == key2.
IEEE1619_VECTORS = (
    _ieee1619(
        1,
        "00000000000000000000000000000000",
        "00000000000000000000000000000000",
        0,
        "00" * 32,
        "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e",
    ),
    _ieee1619(
        2,
        "11" * 16,
        "22" * 16,
        0x3333333333,
        "44" * 32,
        "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0",
    ),
    _ieee1619(
        3,
        "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0",
        "22" * 16,
        0x3333333333,
        "44" * 32,
        "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89",
    ),
)
