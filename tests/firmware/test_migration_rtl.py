"""Migration (firmware/migration.py) on the cycle-accurate backend: two platforms, each a firmware
with its own store, on the memory system's RTL in Amaranth's simulator (compact engine). A small
guest launched on A is sent to B and read back on B through B's own key; a packet changed in
flight, one out of order and one replayed are refused; a SEND_START to a platform the guest's
policy forbids is refused. test_migration.py covers the same commands in depth on the `model`
backend; this file shows that nothing in them depends on the model."""

import os
import time

import pytest

from sevlab.firmware import certs, session
from sevlab.firmware.commands import CommandId
from sevlab.firmware.platform import SEVFirmware
from sevlab.firmware.policy import PolicyFlags
from sevlab.firmware.secret import SecretPacket
from sevlab.firmware.states import GuestState
from sevlab.firmware.status import Status
from sevlab.sim.machine import MachineConfig, make_machine

from test_guest import CBIT, GUEST, SEND_SESSION, boot, exported_identity, ok, put_secret, \
    receive_start, send_start
from test_migration import _flip, observe_source, observe_target, platform, running_guest, send

C = CommandId
CONFIG = MachineConfig(engine="compact")
LINE = 64
PIECE = 2 * LINE            # one packet: two lines
PIECES = 2                  # the guest data that moves: four lines, two launched, two written by the guest
ASID = 1                    # the same ASID on both platforms: only the VEK tells their DRAM apart
DOMAIN = int(PolicyFlags.DOMAIN)
#: [cycles] Each run takes a few thousand cycles; far more means the firmware or the RTL hangs
#: or loops (the machine's own wait limit only bounds a single wait).
CYCLE_LIMIT = 60_000


@pytest.fixture(scope="module")
def root():
    return certs.SimulatedAMDRoot.generate(bits=2048)


def on_rtl(firmware, scenario):
    """Run ``scenario()`` on ``firmware``'s machine, one Amaranth simulation; return its result
    and the (cycles, seconds) it took."""
    start = time.perf_counter()
    result = firmware.machine.run(lambda _: scenario())
    elapsed = firmware.machine.cycles, time.perf_counter() - start
    assert elapsed[0] < CYCLE_LIMIT, f"{elapsed[0]} cycles, expected fewer than {CYCLE_LIMIT}"
    return result, elapsed


def test_round_trip_on_the_rtl_with_refused_packets_and_target(root):
    store_a, store_b = platform(root), platform(root)
    pieces = [os.urandom(PIECE) for _ in range(PIECES)]
    plaintext = b"".join(pieces)
    timings = {}

    # Run 1, B: the hypervisor on B exports B's PDH and chain ahead of the migration.
    b_first = SEVFirmware(make_machine("amaranth", CONFIG), store_b)

    async def export_b():
        await boot(b_first)
        return await exported_identity(b_first)

    identity_b, timings["B export"] = on_rtl(b_first, export_b)

    # Run 2, A: a guest whose policy forbids B is refused; a small guest is launched and sent.
    a = SEVFirmware(make_machine("amaranth", CONFIG), store_a)

    async def launch_and_send():
        r = {}
        await boot(a)
        # DOMAIN: B is self-owned, under another OCA than A's: not in A's domain.
        domain = (await ok(a, C.LAUNCH_START, policy=DOMAIN))["handle"]
        await ok(a, C.LAUNCH_MEASURE, handle=domain, address=GUEST + 0x1000, length=48)
        await ok(a, C.LAUNCH_FINISH, handle=domain)
        await a.machine.write(SEND_SESSION, b"\xA5" * session.SESSION_SIZE, port="priv")
        before = await observe_source(a, domain)
        r["forbidden"] = (await send_start(a, domain, identity_b))[0]
        r["forbidden_unchanged"] = await observe_source(a, domain) == before
        # The guest: LAUNCH_UPDATE_DATA of two lines, two more written by the guest (C=1, ASID).
        handle = await running_guest(a, 0, pieces, asid=ASID)
        r["wire"] = await send(a, handle, identity_b, PIECES, length=PIECE)
        r["a_state"] = (await ok(a, C.GUEST_STATUS, handle=handle))["state"]
        r["a_dram"] = await a.machine.dram_read(GUEST, len(plaintext))
        return r

    ra, timings["A launch, send"] = on_rtl(a, launch_and_send)
    assert ra["forbidden"] is Status.POLICY_FAILURE, f"SEND_START to a target DOMAIN forbids: {ra['forbidden'].name}"
    assert ra["forbidden_unchanged"], "the refused SEND_START changed something"
    assert ra["a_state"] == GuestState.SENT
    source_pdh, blob, policy, packets = ra["wire"]
    assert len(packets) == PIECES

    # Run 3, B: the hardware is simulated afresh (one simulation per run), so B's firmware
    # restarts on the same store: its identity, and the PDH A wrapped the session for, persist.
    b = SEVFirmware(make_machine("amaranth", CONFIG), store_b)
    changed = SecretPacket(packets[0].header, _flip(packets[0].trans, 5), PIECE)

    async def receive():
        r = {}
        await boot(b)
        status, out = await receive_start(b, source_pdh, blob, policy)
        assert status is Status.SUCCESS, f"RECEIVE_START: {status.name}"
        handle = out["handle"]
        await ok(b, C.ACTIVATE, handle=handle, asid=ASID)

        async def deliver(packet, n):
            return (await put_secret(b, handle, packet, GUEST + n * PIECE | CBIT,
                                     command=C.RECEIVE_UPDATE_DATA))[0]

        async def refused(packet, n):
            before = await observe_target(b)
            return await deliver(packet, n), await observe_target(b) == before

        r["changed_in_flight"] = await refused(changed, 0)
        r["out_of_order"] = await refused(packets[1], 1)
        r["first"] = await deliver(packets[0], 0)
        r["replayed"] = await refused(packets[0], 0)
        r["second"] = await deliver(packets[1], 1)
        await ok(b, C.RECEIVE_FINISH, handle=handle)
        r["b_status"] = await ok(b, C.GUEST_STATUS, handle=handle)
        r["late"] = (await put_secret(b, handle, packets[1], GUEST | CBIT, command=C.RECEIVE_UPDATE_DATA))[0]
        # The guest's first reads through the cores' cache: the RECEIVE commands wrote these
        # lines through the privileged port, whose misses allocate nothing, so none is cached yet.
        r["b_guest"] = await b.machine.read(GUEST | CBIT, len(plaintext), asid=ASID)
        r["b_dram"] = await b.machine.dram_read(GUEST, len(plaintext))
        return r

    rb, timings["B receive"] = on_rtl(b, receive)
    for name in ("changed_in_flight", "out_of_order", "replayed"):
        status, unchanged = rb[name]
        assert status is Status.BAD_MEASUREMENT, f"{name}: {status.name}, expected BAD_MEASUREMENT"
        assert unchanged, f"{name}: refused but changed something"
    assert (rb["first"], rb["second"]) == (Status.SUCCESS, Status.SUCCESS), (rb["first"].name, rb["second"].name)
    assert rb["b_status"]["state"] == GuestState.RUNNING and rb["b_status"]["asid"] == ASID
    assert rb["late"] is Status.INVALID_GUEST_STATE, "a packet after RECEIVE_FINISH was taken"
    assert rb["b_guest"] == plaintext, "B does not read the guest back through its own key"
    assert rb["b_dram"] != plaintext and not any(plaintext[i:i + 16] in rb["b_dram"]
                                                 for i in range(0, len(plaintext), 16)), "B's DRAM holds plaintext"
    assert rb["b_dram"] != ra["a_dram"], "same address and ASID on both platforms: only the VEKs differ, so must DRAM"
    for packet, piece in zip(packets, pieces):
        assert not any(piece[i:i + 16] in packet.header.to_bytes() + packet.trans
                       for i in range(0, PIECE, 16)), "a packet carries plaintext"
    print("; ".join(f"{name}: {cycles} cycles, {seconds:.1f} s" for name, (cycles, seconds) in timings.items()))
