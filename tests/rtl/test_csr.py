"""The CSR layer (rtl/csr): register descriptions and the generated bank."""

import pytest
from amaranth.sim import Simulator

from sevlab.rtl.csr import Access, CSRBank, Field, Register, RegisterMap

MAP = RegisterMap("example", [
    Register("CTRL", 0x0, (Field("go", 1, Access.RW, "go"), Field("mode", 3, Access.RW, "mode", reset=5)),
             "control"),
    Register("INFO", 0x1, (Field("value", 16, Access.R, "from hardware"),), "info"),
    Register("PUSH", 0x2, (Field("word", 32, Access.W, "write-only"),), "push"),
    Register("LOCKED", 0x3, (Field("value", 4, Access.RW, "value"), Field("lock", 1, Access.RW, "lock")),
             "lockable", lockable=True),
])


def test_encode_decode_round_trip_and_errors():
    ctrl = MAP["CTRL"]
    assert ctrl.encode(go=1, mode=3) == 0b0111
    assert ctrl.decode(0b1011) == {"go": 1, "mode": 0b101}
    with pytest.raises(ValueError, match="CTRL.mode is 3 bits wide"):
        ctrl.encode(mode=8)
    with pytest.raises(KeyError, match="no field 'nope'"):
        ctrl.encode(nope=1)
    with pytest.raises(ValueError, match="share word address"):
        RegisterMap("bad", [Register("A", 0, (), "a"), Register("B", 0, (), "b")])
    with pytest.raises(ValueError, match="more than 32"):
        Register("WIDE", 0, (Field("a", 20, Access.R, ""), Field("b", 20, Access.R, "")), "wide")
    with pytest.raises(ValueError, match="needs a one-bit RW field named 'lock'"):
        Register("L", 0, (Field("a", 1, Access.RW, ""),), "l", lockable=True)


def test_markdown_lists_every_field():
    table = MAP.markdown()
    for register in MAP:
        assert f"**{register.name}**" in table
        for f in register.fields:
            assert f"`{f.name}`" in table


def test_bank_reads_writes_strobes_and_lock():
    bank = CSRBank(MAP)
    seen = []

    async def testbench(ctx):
        async def write(address, value):
            ctx.set(bank.bus.addr, address)
            ctx.set(bank.bus.w_data, value)
            ctx.set(bank.bus.w_stb, 1)
            *_, strobe, data = await ctx.tick().sample(bank.field("PUSH", "word").w_stb,
                                                       bank.field("PUSH", "word").w_data)
            ctx.set(bank.bus.w_stb, 0)
            if strobe:
                seen.append(data)

        async def read(address):
            ctx.set(bank.bus.addr, address)
            ctx.set(bank.bus.r_stb, 1)
            await ctx.tick()
            ctx.set(bank.bus.r_stb, 0)
            return ctx.get(bank.bus.r_data)

        assert await read(0) == 5 << 1, "reset value of CTRL.mode"
        await write(0, 0b0111)
        assert await read(0) == 0b0111
        assert ctx.get(bank.field("CTRL", "mode").data) == 3
        ctx.set(bank.field("INFO", "value").r_data, 0xBEEF)
        assert await read(1) == 0xBEEF
        await write(1, 0x1234)                      # R: writes are ignored
        assert await read(1) == 0xBEEF
        await write(2, 0xCAFEF00D)
        assert seen == [0xCAFEF00D], "W field strobes once with the written value"
        assert await read(2) == 0, "write-only reads as zero"
        assert await read(7) == 0, "unmapped reads as zero"
        await write(3, 0b1_0110)                    # value 6, lock
        await write(3, 0b0_0001)                    # ignored: locked
        assert await read(3) == 0b1_0110
        await ctx.tick()
        assert ctx.get(bank.bus.r_data) == 0, "r_data returns to zero after the read cycle"

    sim = Simulator(bank)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run_until(1e-6)
