"""Command IDs and buffer layouts (firmware/commands.py) against the command table of
sev-reference.md §2, parsed from the document itself."""

import pathlib
import re

import pytest

from sevlab.firmware.commands import LAYOUTS, CommandId
from sevlab.firmware.status import SEVError, Status

REFERENCE = pathlib.Path(__file__).resolve().parents[3] / "shared" / "docs" / "sev-reference.md"


def _reference_rows():
    if not REFERENCE.is_file():
        raise AssertionError(f"the SEV reference is missing: {REFERENCE}")
    text = REFERENCE.read_text()
    section = text.split("## 2. Command IDs", 1)[1].split("\n## 3.", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| (0x[0-9A-F]{2}) \| ([A-Z_]+)[^|]*\| ([^|]*) \|", line)
        if match and match.group(2) in CommandId.__members__:
            rows[CommandId[match.group(2)]] = match.group(3)
    return rows


ROWS = _reference_rows()
FIELD = re.compile(r"(\w+)(?:\[16\])?(?: (u8|u16|u32|u64))? @(0x[0-9A-Fa-f]+|\d+)(?: \((in/out|out)\))?")


def test_every_command_id_is_the_references():
    # The reference lists the buffer-less ones too; every ID we declare appears there by name.
    section = REFERENCE.read_text().split("## 2. Command IDs", 1)[1].split("\n## 3.", 1)[0]
    for command in CommandId:
        assert re.search(rf"0x{command:02X}[^|]*\| [^|]*\b{command.name.split('_', 1)[0]}", section), command


@pytest.mark.parametrize("command", [c for c in ROWS if "@" in ROWS[c]], ids=lambda c: c.name)
def test_buffer_layout_matches_the_reference(command):
    row, layout = ROWS[command], LAYOUTS[command]
    size = re.search(r"→ (0x[0-9A-Fa-f]+|\d+)", row)
    if size:
        assert layout.size == int(size.group(1), 0), f"{command.name}: size {layout.size:#x}"
    ours = {field.offset: field for field in layout.fields}
    for name, type_, offset, direction in FIELD.findall(row):
        offset = int(offset, 0)
        if name == "rsvd":
            assert offset not in ours, f"{command.name}: a field at reserved offset {offset:#x}"
            continue
        assert offset in ours, f"{command.name}: no field at {offset:#x} ({name})"
        field = ours[offset]
        if type_:
            assert field.type == type_, f"{command.name}.{field.name}: {field.type}, reference {type_}"
        want = {"in/out": "inout", "out": "out", "": "in"}[direction]
        if command is not CommandId.PLATFORM_STATUS:     # an output-only buffer, unmarked there
            assert field.direction == want, f"{command.name}.{field.name}: {field.direction}, reference {want}"


def test_same_layout_rows():
    # Rows the reference gives as "same layout as" / "like" another.
    assert LAYOUTS[CommandId.LAUNCH_UPDATE_VMSA].fields == LAYOUTS[CommandId.LAUNCH_UPDATE_DATA].fields
    secret = [(f.offset, f.type) for f in LAYOUTS[CommandId.LAUNCH_SECRET].fields]
    for command in (CommandId.SEND_UPDATE_DATA, CommandId.SEND_UPDATE_VMSA, CommandId.RECEIVE_UPDATE_DATA,
                    CommandId.RECEIVE_UPDATE_VMSA):
        assert [(f.offset, f.type) for f in LAYOUTS[command].fields] == secret, command.name
    assert set(LAYOUTS[CommandId.SEND_UPDATE_DATA].outputs()) == {"header_length", "trans_length"}


def test_pack_and_unpack():
    layout = LAYOUTS[CommandId.LAUNCH_START]
    raw = layout.pack({"handle": 7, "policy": 0x1, "session_address": 0x1234_5678_9ABC, "session_length": 0x80})
    assert len(raw) == 0x24
    assert raw[0x18:0x20] == (0x1234_5678_9ABC).to_bytes(8, "little")
    assert layout.unpack(raw)["session_length"] == 0x80
    with pytest.raises(ValueError, match="36 bytes, not 35"):
        layout.unpack(raw[:-1])


def test_status_codes_and_error():
    assert Status.WBINVD_REQUIRED == 0x0E and Status.DFFLUSH_REQUIRED == 0x0F and Status.ACTIVE == 0x12
    assert 0x1E not in {s.value for s in Status}, "0x1E is unassigned"
    error = SEVError(0x07, "NODBG")
    assert error.status is Status.POLICY_FAILURE and str(error) == "POLICY_FAILURE (0x07): NODBG"
