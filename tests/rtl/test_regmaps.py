"""Each README's register table is the one its regmap.py generates."""

import pathlib

import pytest

from sevlab.rtl.cache import CACHE_REGISTERS
from sevlab.rtl.keyslots import KEYSLOT_REGISTERS
from sevlab.rtl.memsys import SYSTEM_REGISTERS
from sevlab.rtl.meu import MEU_REGISTERS

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("readme, registers", [
    ("rtl/meu/README.md", MEU_REGISTERS),
    ("rtl/keyslots/README.md", KEYSLOT_REGISTERS),
    ("rtl/cache/README.md", CACHE_REGISTERS),
    ("rtl/memsys/README.md", SYSTEM_REGISTERS),
], ids=["meu", "keyslots", "cache", "memsys"])
def test_readme_register_table_matches_the_regmap(readme, registers):
    text = (ROOT / readme).read_text()
    begin = text.index("<!-- generated:")
    begin = text.index("\n", begin) + 1
    end = text.index("<!-- end generated -->")
    assert text[begin:end].strip() == registers.markdown(), (
        f"{readme} is out of date; its table should be:\n{registers.markdown()}")
