"""The launch measurement (LAUNCH_UPDATE_DATA/VMSA and LAUNCH_MEASURE, spec §6.3–6.5;
``sev-reference.md`` §9): the firmware's running SHA-256 launch digest, the HMAC under the TIK
that LAUNCH_MEASURE returns, and the guest owner's recomputation of both from the OVMF image,
QEMU's kernel-hashes table and the SEV-ES VMSAs. See ``firmware/README.md``.
"""

__all__ = [
    "VMSA_SIZE", "DIGEST_SIZE", "MEASURE_SIZE", "LAUNCH_MEASURE_SIZE",
    "MEASURE_CONTEXT", "MEASURE_CONTEXT_API",
    "SEV_HASH_TABLE_GUID", "CMDLINE_HASH_GUID", "INITRD_HASH_GUID", "KERNEL_HASH_GUID",
    "KERNEL_HASHES_TABLE_SIZE",
    "LaunchDigest", "kernel_hashes_table", "sev_es_vmsas", "expected_launch_digest",
    "measure", "LaunchMeasure", "launch_measure", "MeasurementMismatchError", "verify_launch_measure",
]

import hashlib
import os
import struct
import uuid
from dataclasses import dataclass

from .policy import api_at_least, policy_word
from .session import KEY_SIZE, MAC_SIZE, NONCE_SIZE, _check_bytes, hmac_sha256, hmac_sha256_matches

#: One SEV-ES VMSA page, as LAUNCH_UPDATE_VMSA measures it.
VMSA_SIZE = 4096
#: The launch digest (SHA-256).
DIGEST_SIZE = 32
#: MEASURE, the HMAC-SHA256 that LAUNCH_MEASURE returns.
MEASURE_SIZE = MAC_SIZE
#: The LAUNCH_MEASURE output buffer: MEASURE ‖ MNONCE (spec Table 52).
LAUNCH_MEASURE_SIZE = MEASURE_SIZE + NONCE_SIZE
#: The context byte that starts the MEASURE input from API 0.17 on (sev-tool ``LAUNCH_MEASURE_CTX``).
MEASURE_CONTEXT = 0x04
#: The first API version whose MEASURE (and LAUNCH_SECRET MAC) has the newer layout.
MEASURE_CONTEXT_API = (0, 17)

#: QEMU's ``SEV_HASH_TABLE_HEADER_GUID`` and the GUIDs of its three entries; each is stored in
#: the table in the little-endian (``bytes_le``) form.
SEV_HASH_TABLE_GUID = uuid.UUID("9438d606-4f22-4cc9-b479-a793d411fd21")
CMDLINE_HASH_GUID = uuid.UUID("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")
INITRD_HASH_GUID = uuid.UUID("44baf731-3a2f-4bd7-9af1-41e29169781d")
KERNEL_HASH_GUID = uuid.UUID("4de79437-abd2-427f-b835-d5b172d2045b")

_HASH_ENTRY_SIZE = 16 + 2 + DIGEST_SIZE            # GUID, u16 length, SHA-256
_HASH_TABLE_SIZE = 16 + 2 + 3 * _HASH_ENTRY_SIZE   # 168: header GUID, u16 length, three entries
#: The padded table (QEMU ``PaddedSevHashTable``): 168 bytes rounded up to a multiple of 16.
KERNEL_HASHES_TABLE_SIZE = -(-_HASH_TABLE_SIZE // 16) * 16


class LaunchDigest:
    """The firmware's launch digest (LD): SHA-256 over every page of plaintext given to
    LAUNCH_UPDATE_DATA, in order, then every VMSA given to LAUNCH_UPDATE_VMSA. It may be read
    (:meth:`digest`) and then updated further."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self._length = 0

    @property
    def length(self):
        """How many bytes have been measured."""
        return self._length

    def update(self, data):
        """Measure the plaintext of one LAUNCH_UPDATE_DATA call."""
        data = _check_bytes("LAUNCH_UPDATE_DATA plaintext", data)
        self._hash.update(data)
        self._length += len(data)

    def update_vmsa(self, vmsa):
        """Measure one LAUNCH_UPDATE_VMSA page.

        Raises
        ------
        ValueError
            If ``vmsa`` is not 4096 bytes.
        """
        vmsa = _check_bytes("VMSA", vmsa, VMSA_SIZE)
        self._hash.update(vmsa)
        self._length += len(vmsa)

    def digest(self):
        """The 32-byte launch digest of everything measured so far."""
        return self._hash.copy().digest()

    def copy(self):
        """An independent digest in the same state (the firmware snapshots guest contexts)."""
        twin = LaunchDigest()
        twin._hash = self._hash.copy()
        twin._length = self._length
        return twin


def _cmdline_bytes(cmdline):
    if cmdline is None:
        return b"\x00"
    if isinstance(cmdline, str):
        cmdline = cmdline.encode()
    cmdline = _check_bytes("kernel command line", cmdline)
    if b"\x00" in cmdline:
        raise ValueError("kernel command line must not contain a NUL byte (the terminator is added here)")
    return cmdline + b"\x00"


def kernel_hashes_table(kernel, initrd=None, cmdline=None):
    """QEMU's kernel-hashes table (``PaddedSevHashTable``, 176 bytes), which QEMU writes into
    the OVMF image when ``kernel-hashes=on`` so that the firmware measurement covers the kernel,
    initrd and command line that OVMF later checks::

        header GUID[16] ‖ u16 168 ‖ entry(cmdline) ‖ entry(initrd) ‖ entry(kernel) ‖ 0^8
        entry(x) = GUID[16] ‖ u16 50 ‖ SHA-256(x)

    Parameters
    ----------
    kernel : bytes
        The kernel image (may be empty).
    initrd : bytes, optional
        The initrd; none hashes as the empty string.
    cmdline : bytes or str, optional
        The command line **without** its terminator: it is hashed with one trailing NUL, as
        QEMU does, and no command line hashes as a lone NUL.

    Raises
    ------
    ValueError
        If ``cmdline`` contains a NUL byte.
    """
    kernel = _check_bytes("kernel", kernel)
    initrd = b"" if initrd is None else _check_bytes("initrd", initrd)
    table = bytearray(SEV_HASH_TABLE_GUID.bytes_le + struct.pack("<H", _HASH_TABLE_SIZE))
    for guid, data in ((CMDLINE_HASH_GUID, _cmdline_bytes(cmdline)),
                       (INITRD_HASH_GUID, initrd),
                       (KERNEL_HASH_GUID, kernel)):
        table += guid.bytes_le + struct.pack("<H", _HASH_ENTRY_SIZE) + hashlib.sha256(data).digest()
    assert len(table) == _HASH_TABLE_SIZE
    return bytes(table) + bytes(KERNEL_HASHES_TABLE_SIZE - _HASH_TABLE_SIZE)


def sev_es_vmsas(bsp_vmsa, ap_vmsa, vcpu_count):
    """The VMSAs of an SEV-ES guest as QEMU launches them: vCPU 0's, then ``vcpu_count - 1``
    copies of the AP's.

    Raises
    ------
    ValueError
        If ``vcpu_count`` is below 1 or a VMSA is not 4096 bytes.
    """
    if isinstance(vcpu_count, bool) or not isinstance(vcpu_count, int) or vcpu_count < 1:
        raise ValueError(f"vCPU count must be at least 1, not {vcpu_count!r}")
    bsp_vmsa = _check_bytes("BSP VMSA", bsp_vmsa, VMSA_SIZE)
    ap_vmsa = _check_bytes("AP VMSA", ap_vmsa, VMSA_SIZE)
    return [bsp_vmsa] + [ap_vmsa] * (vcpu_count - 1)


def expected_launch_digest(firmware, *, kernel=None, initrd=None, cmdline=None, vmsas=()):
    """The launch digest a guest owner expects from a QEMU launch::

        LD = SHA-256(firmware ‖ [kernel_hashes_table(kernel, initrd, cmdline)] ‖ VMSA_0 ‖ … )

    Parameters
    ----------
    firmware : bytes
        The whole OVMF image QEMU measures (the stateless AmdSev build; no NVRAM).
    kernel : bytes, optional
        With a kernel (``-kernel``, ``kernel-hashes=on``) the 176-byte table follows the image;
        without one there is no table.
    initrd, cmdline
        As :func:`kernel_hashes_table`; they need a kernel.
    vmsas : sequence of bytes
        SEV-ES only: the VMSA of every vCPU in order (:func:`sev_es_vmsas`).

    Raises
    ------
    ValueError
        If ``initrd`` or ``cmdline`` is given without ``kernel``, or a VMSA is not 4096 bytes.
    """
    digest = LaunchDigest()
    digest.update(firmware)
    if kernel is not None:
        digest.update(kernel_hashes_table(kernel, initrd, cmdline))
    elif initrd is not None or cmdline is not None:
        raise ValueError("an initrd or command line needs a kernel (QEMU measures them only with -kernel)")
    for vmsa in vmsas:
        digest.update_vmsa(vmsa)
    return digest.digest()


def _check_u8(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a u8, not {value!r}")
    return value


def _measure_input(api_major, api_minor, build, policy, launch_digest, mnonce):
    api_major = _check_u8("API major", api_major)
    api_minor = _check_u8("API minor", api_minor)
    build = _check_u8("build", build)
    policy = struct.pack("<I", policy_word(policy))
    launch_digest = _check_bytes("launch digest", launch_digest, DIGEST_SIZE)
    mnonce = _check_bytes("MNONCE", mnonce, NONCE_SIZE)
    if api_at_least(api_major, api_minor, MEASURE_CONTEXT_API):
        return bytes([MEASURE_CONTEXT, api_major, api_minor, build]) + policy + launch_digest + mnonce
    return policy + launch_digest + mnonce


def measure(tik, api_major, api_minor, build, policy, launch_digest, mnonce):
    """MEASURE, the HMAC-SHA256 under the TIK that LAUNCH_MEASURE returns::

        API ≥ 0.17: HMAC(TIK, 0x04 ‖ API_MAJOR ‖ API_MINOR ‖ BUILD ‖ POLICY_LE32 ‖ LD ‖ MNONCE)
        API < 0.17: HMAC(TIK, POLICY_LE32 ‖ LD ‖ MNONCE)

    ``api_major``, ``api_minor`` and ``build`` are the firmware's (PLATFORM_STATUS), not the
    policy's minimum.

    Raises
    ------
    ValueError
        For a TIK, digest or nonce of the wrong size, or fields out of range.
    """
    tik = _check_bytes("TIK", tik, KEY_SIZE)
    return hmac_sha256(tik, _measure_input(api_major, api_minor, build, policy, launch_digest, mnonce))


@dataclass(frozen=True)
class LaunchMeasure:
    """The 48-byte LAUNCH_MEASURE output: MEASURE[32] ‖ MNONCE[16]."""
    measure: bytes
    mnonce: bytes

    def __post_init__(self):
        object.__setattr__(self, "measure", _check_bytes("MEASURE", self.measure, MEASURE_SIZE))
        object.__setattr__(self, "mnonce", _check_bytes("MNONCE", self.mnonce, NONCE_SIZE))

    @classmethod
    def from_bytes(cls, raw):
        """Split a 48-byte LAUNCH_MEASURE output.

        Raises
        ------
        ValueError
            If ``raw`` is not 48 bytes.
        """
        raw = _check_bytes("LAUNCH_MEASURE output", raw, LAUNCH_MEASURE_SIZE)
        return cls(measure=raw[:MEASURE_SIZE], mnonce=raw[MEASURE_SIZE:])

    def to_bytes(self):
        """The 48-byte buffer."""
        return self.measure + self.mnonce


def launch_measure(tik, api_major, api_minor, build, policy, launch_digest, mnonce=None):
    """The firmware's LAUNCH_MEASURE result, with a fresh random MNONCE unless one is given."""
    mnonce = os.urandom(NONCE_SIZE) if mnonce is None else mnonce
    return LaunchMeasure(measure=measure(tik, api_major, api_minor, build, policy, launch_digest, mnonce),
                         mnonce=mnonce)


class MeasurementMismatchError(Exception):
    """The firmware's MEASURE is not the one the guest owner expects."""


def verify_launch_measure(launch_measure_output, tik, api_major, api_minor, build, policy,
                          expected_digest):
    """The guest owner's check of a LAUNCH_MEASURE output against the launch digest it expects
    (constant-time comparison).

    Parameters
    ----------
    launch_measure_output : bytes or LaunchMeasure
        The 48 bytes the firmware returned; its MNONCE is used.

    Raises
    ------
    MeasurementMismatchError
        If MEASURE differs.
    """
    output = launch_measure_output if isinstance(launch_measure_output, LaunchMeasure) \
        else LaunchMeasure.from_bytes(launch_measure_output)
    tik = _check_bytes("TIK", tik, KEY_SIZE)
    data = _measure_input(api_major, api_minor, build, policy, expected_digest, output.mnonce)
    if not hmac_sha256_matches(tik, output.measure, data):
        raise MeasurementMismatchError("MEASURE does not match the expected launch digest, policy "
                                       "and firmware version under the TIK")
