"""SEV API command IDs and command-buffer layouts (spec §4.3 and chapters 5–6;
``sev-reference.md`` §2).

A command is a 16-bit ID and the physical address of a packed little-endian buffer in system
memory. Each buffer is declared here once, field by field at its spec offset; the mailbox reads it
with :meth:`BufferLayout.unpack` and writes the output fields back with :meth:`BufferLayout.pack`.
See ``firmware/README.md``.
"""

import enum
import struct
from dataclasses import dataclass

__all__ = ["CommandId", "BufferField", "BufferLayout", "LAYOUTS"]


class CommandId(enum.IntEnum):
    """Firmware mailbox command IDs of legacy SEV (``sev-reference.md`` §2)."""
    INIT = 0x01
    SHUTDOWN = 0x02
    PLATFORM_RESET = 0x03
    PLATFORM_STATUS = 0x04
    PEK_GEN = 0x05
    PEK_CSR = 0x06
    PEK_CERT_IMPORT = 0x07
    PDH_CERT_EXPORT = 0x08
    PDH_GEN = 0x09
    DF_FLUSH = 0x0A
    DOWNLOAD_FIRMWARE = 0x0B
    GET_ID = 0x0C
    INIT_EX = 0x0D
    DECOMMISSION = 0x20
    ACTIVATE = 0x21
    DEACTIVATE = 0x22
    GUEST_STATUS = 0x23
    LAUNCH_START = 0x30
    LAUNCH_UPDATE_DATA = 0x31
    LAUNCH_UPDATE_VMSA = 0x32
    LAUNCH_MEASURE = 0x33
    LAUNCH_SECRET = 0x34
    LAUNCH_FINISH = 0x35
    ATTESTATION = 0x36
    SEND_START = 0x40
    SEND_UPDATE_DATA = 0x41
    SEND_UPDATE_VMSA = 0x42
    SEND_FINISH = 0x43
    SEND_CANCEL = 0x44
    RECEIVE_START = 0x50
    RECEIVE_UPDATE_DATA = 0x51
    RECEIVE_UPDATE_VMSA = 0x52
    RECEIVE_FINISH = 0x53
    DBG_DECRYPT = 0x60
    DBG_ENCRYPT = 0x61


_FORMATS = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "nonce": "16s"}


@dataclass(frozen=True)
class BufferField:
    """One field: its name, byte offset, type (``u8``..``u64``, ``nonce`` = 16 bytes) and whether
    the firmware writes it back (``out``; ``inout`` fields are read and written)."""
    name: str
    offset: int
    type: str
    direction: str = "in"

    @property
    def size(self):
        return struct.calcsize(_FORMATS[self.type])


class BufferLayout:
    """The packed buffer of one command: ``size`` bytes, fields at fixed offsets, the rest
    reserved (zero on output, ignored on input)."""

    def __init__(self, command, size, fields=()):
        self.command = command
        self.size = size
        self.fields = tuple(fields)
        end = 0
        for field in sorted(self.fields, key=lambda f: f.offset):
            if field.offset < end or field.offset + field.size > size:
                raise ValueError(f"{command.name}: field {field.name} at {field.offset:#x} overlaps "
                                 f"or leaves the {size:#x}-byte buffer")
            if field.direction not in ("in", "out", "inout"):
                raise ValueError(f"{command.name}: field {field.name} direction {field.direction!r}")
            end = field.offset + field.size

    def __getitem__(self, name):
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.command.name} has no field {name!r}")

    def unpack(self, raw):
        """The field values of ``raw`` (exactly ``size`` bytes) as a dict."""
        if len(raw) != self.size:
            raise ValueError(f"{self.command.name} buffer is {self.size} bytes, not {len(raw)}")
        return {f.name: struct.unpack_from(_FORMATS[f.type], raw, f.offset)[0] for f in self.fields}

    def pack(self, values, *, into=None):
        """Bytes with ``values`` at their offsets, over ``into`` (or zeros)."""
        raw = bytearray(into if into is not None else self.size)
        for name, value in values.items():
            field = self[name]
            struct.pack_into(_FORMATS[field.type], raw, field.offset, value)
        return bytes(raw)

    def outputs(self):
        """Names of the fields the firmware writes back."""
        return [f.name for f in self.fields if f.direction in ("out", "inout")]


def _f(name, offset, type="u32", direction="in"):
    return BufferField(name, offset, type, direction)


def _handle_only(command):
    return BufferLayout(command, 4, [_f("handle", 0)])


def _transport(command, *, lengths_out=False):
    # LAUNCH_SECRET, SEND_UPDATE_*, RECEIVE_UPDATE_*: header, guest memory, transport buffer.
    # (SEND_UPDATE_VMSA keeps the reserved word after the handle, as sev-tool does.)
    length = "inout" if lengths_out else "in"
    return BufferLayout(command, 0x34, [
        _f("handle", 0x00), _f("header_address", 0x08, "u64"), _f("header_length", 0x10, direction=length),
        _f("guest_address", 0x18, "u64"), _f("guest_length", 0x20),
        _f("trans_address", 0x28, "u64"), _f("trans_length", 0x30, direction=length),
    ])


def _update(command, *, length_out=False):
    return BufferLayout(command, 0x14, [
        _f("handle", 0x00), _f("address", 0x08, "u64"),
        _f("length", 0x10, direction="inout" if length_out else "in"),
    ])


def _address_length(command, *, length_out):
    return BufferLayout(command, 0x0C, [
        _f("address", 0x00, "u64"), _f("length", 0x08, direction="inout" if length_out else "in"),
    ])


C = CommandId
#: Every command's buffer, by command ID. Commands without a buffer have size 0.
LAYOUTS = {layout.command: layout for layout in [
    BufferLayout(C.INIT, 0x14, [_f("flags", 0x00), _f("tmr_address", 0x08, "u64"), _f("tmr_length", 0x10)]),
    BufferLayout(C.SHUTDOWN, 0),
    BufferLayout(C.PLATFORM_RESET, 0),
    BufferLayout(C.PLATFORM_STATUS, 0x0C, [
        _f("api_major", 0x00, "u8", "out"), _f("api_minor", 0x01, "u8", "out"),
        _f("state", 0x02, "u8", "out"), _f("owner", 0x03, "u8", "out"),
        _f("config", 0x04, "u16", "out"), _f("build", 0x07, "u8", "out"),
        _f("guest_count", 0x08, "u32", "out"),
    ]),
    BufferLayout(C.PEK_GEN, 0),
    _address_length(C.PEK_CSR, length_out=True),
    BufferLayout(C.PEK_CERT_IMPORT, 0x1C, [
        _f("pek_cert_address", 0x00, "u64"), _f("pek_cert_length", 0x08),
        _f("oca_cert_address", 0x10, "u64"), _f("oca_cert_length", 0x18),
    ]),
    BufferLayout(C.PDH_CERT_EXPORT, 0x1C, [
        _f("pdh_cert_address", 0x00, "u64"), _f("pdh_cert_length", 0x08, direction="inout"),
        _f("cert_chain_address", 0x10, "u64"), _f("cert_chain_length", 0x18, direction="inout"),
    ]),
    BufferLayout(C.PDH_GEN, 0),
    BufferLayout(C.DF_FLUSH, 0),
    _address_length(C.DOWNLOAD_FIRMWARE, length_out=False),
    _address_length(C.GET_ID, length_out=True),
    BufferLayout(C.INIT_EX, 0x24, [
        _f("length", 0x00), _f("flags", 0x04), _f("tmr_address", 0x08, "u64"), _f("tmr_length", 0x10),
        _f("nv_address", 0x18, "u64"), _f("nv_length", 0x20),
    ]),
    _handle_only(C.DECOMMISSION),
    BufferLayout(C.ACTIVATE, 0x08, [_f("handle", 0x00), _f("asid", 0x04)]),
    _handle_only(C.DEACTIVATE),
    BufferLayout(C.GUEST_STATUS, 0x0D, [
        _f("handle", 0x00), _f("policy", 0x04, direction="out"), _f("asid", 0x08, direction="out"),
        _f("state", 0x0C, "u8", "out"),
    ]),
    BufferLayout(C.LAUNCH_START, 0x24, [
        _f("handle", 0x00, direction="inout"), _f("policy", 0x04),
        _f("dh_cert_address", 0x08, "u64"), _f("dh_cert_length", 0x10),
        _f("session_address", 0x18, "u64"), _f("session_length", 0x20),
    ]),
    _update(C.LAUNCH_UPDATE_DATA),
    _update(C.LAUNCH_UPDATE_VMSA),
    _update(C.LAUNCH_MEASURE, length_out=True),
    _transport(C.LAUNCH_SECRET),
    _handle_only(C.LAUNCH_FINISH),
    BufferLayout(C.ATTESTATION, 0x24, [
        _f("handle", 0x00), _f("address", 0x08, "u64"), _f("mnonce", 0x10, "nonce"),
        _f("length", 0x20, direction="inout"),
    ]),
    BufferLayout(C.SEND_START, 0x44, [
        _f("handle", 0x00), _f("policy", 0x04, direction="out"),
        _f("pdh_cert_address", 0x08, "u64"), _f("pdh_cert_length", 0x10),
        _f("plat_certs_address", 0x18, "u64"), _f("plat_certs_length", 0x20),
        _f("amd_certs_address", 0x28, "u64"), _f("amd_certs_length", 0x30),
        _f("session_address", 0x38, "u64"), _f("session_length", 0x40, direction="inout"),
    ]),
    _transport(C.SEND_UPDATE_DATA, lengths_out=True),
    _transport(C.SEND_UPDATE_VMSA, lengths_out=True),
    _handle_only(C.SEND_FINISH),
    _handle_only(C.SEND_CANCEL),
    BufferLayout(C.RECEIVE_START, 0x24, [
        _f("handle", 0x00, direction="inout"), _f("policy", 0x04),
        _f("pdh_cert_address", 0x08, "u64"), _f("pdh_cert_length", 0x10),
        _f("session_address", 0x18, "u64"), _f("session_length", 0x20),
    ]),
    _transport(C.RECEIVE_UPDATE_DATA),
    _transport(C.RECEIVE_UPDATE_VMSA),
    _handle_only(C.RECEIVE_FINISH),
    *(BufferLayout(command, 0x1C, [
        _f("handle", 0x00), _f("src_address", 0x08, "u64"), _f("dst_address", 0x10, "u64"),
        _f("length", 0x18),
    ]) for command in (C.DBG_DECRYPT, C.DBG_ENCRYPT)),
]}
del C
