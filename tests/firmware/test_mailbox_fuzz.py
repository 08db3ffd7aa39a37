"""The mailbox (firmware/platform.py, guest.py, migration.py) under Hypothesis-generated command
buffers: any command ID, any buffer address, every field of every layout drawn from boundary
values, data-area addresses, addresses past the end of memory, existing and unknown handles and
ASIDs, with the data areas filled with random bytes or with valid certificates and sessions.
Whatever comes in, ``SEVFirmware.command`` returns a :class:`Status` (never raises), and a
command that does not succeed changes nothing the host or the guests can observe: PLATFORM_STATUS,
the persistent store, GUEST_STATUS of every handle, the firmware's guest contexts, the key slots'
valid bits and DRAM (every line it holds, through the DRAM backdoor), except the command buffer
itself, where output fields are written back even on failure. The bugs the fuzzer found
have a regression test each at the end."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptography.hazmat.primitives.asymmetric import ec

from sevlab.firmware import certs, session
from sevlab.firmware.commands import LAYOUTS, CommandId
from sevlab.firmware.platform import SEVFirmware, manufacture
from sevlab.firmware.policy import PolicyFlags
from sevlab.firmware.status import Status
from sevlab.firmware.store import PlatformStore
from sevlab.sim.machine import BusError, KeySlotDriver, MachineConfig, UnitDriver, run

C = CommandId
CONFIG = MachineConfig()
TOP = 1 << CONFIG.address_width         # the end of memory
CBIT = 1 << CONFIG.cbit_position
CERT = certs.SEVCertificate.SIZE
PAGE = 0x1000

OBSERVE = 0x0F_0000     # the test's own PLATFORM_STATUS / GUEST_STATUS buffer
BUFFER = 0x10_0000      # fuzzed command buffers
SCRATCH = 0x18_0000     # the situations' LAUNCH_MEASURE output
OUT = 0x30_0000         # where plausible buffers put their outputs (three pages)
TMR = 0x100_0000        # a 1 MiB-aligned SEV-ES trusted memory region
DATA = 0x20_0000        # the data area: eight places of one page each
PLACES = 8
GUEST = 0x40_0000       # guest memory the situations launch
GUEST_BYTES = 2 * PAGE
# Places in the data area where a valid structure may be put (otherwise random bytes or nothing).
GODH, SESSION, TARGET_PDH, TARGET_CHAIN, TARGET_AMD, OWNER_PEK, OWNER_OCA = (
    DATA + n * PAGE for n in (0, 1, 2, 3, 5, 6, 7))
HANDLES = range(1, 9)   # observed with GUEST_STATUS: the situation's, the fuzzer's, unknown ones
SLOTS = range(CONFIG.slots)
ES, NODBG, NOKS, NOSEND = (int(flag) for flag in (PolicyFlags.ES, PolicyFlags.NODBG, PolicyFlags.NOKS,
                                                  PolicyFlags.NOSEND))
SITUATIONS = ("UNINIT", "INIT", "RUNNING", "LUPDATE")
KNOWN_IDS = frozenset(int(command) for command in CommandId)


@pytest.fixture(scope="module")
def root():
    return certs.SimulatedAMDRoot.generate(bits=2048)


class Chip:
    """A manufactured chip's store contents (made once: the RSA signature); each example starts
    from a copy. Its repr stays short in Hypothesis' falsifying examples."""

    def __init__(self, root):
        store = PlatformStore()
        manufacture(store, root)
        self.items = store.snapshot()

    def store(self):
        store = PlatformStore()
        store.restore(self.items)
        return store

    def __repr__(self):
        return "Chip(<manufactured under the simulated root>)"


@pytest.fixture(scope="module")
def chip(root):
    return Chip(root)


# Strategies ------------------------------------------------------------------------------------

def _u(bits):
    return st.integers(0, (1 << bits) - 1)


def _weighted(*choices):
    """One of the strategies, each with its weight (Hypothesis' one_of picks them evenly)."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(lambda s: s)


ADDRESSES = st.one_of(
    st.sampled_from([DATA + n * PAGE for n in range(PLACES)]),                        # the places
    st.integers(DATA, DATA + PLACES * PAGE - 1),                                      # inside, any alignment
    st.integers(0, GUEST_BYTES // 16 - 1).map(lambda n: GUEST + 16 * n),             # guest memory
    st.integers(0, GUEST_BYTES // 16 - 1).map(lambda n: GUEST + 16 * n | CBIT),       # with the C-bit
    st.sampled_from([OUT, OUT + PAGE, OUT + 8, TMR]),                                 # output areas
    st.sampled_from([0, 1, 15, 17, DATA + 1, GUEST + 8, BUFFER, SCRATCH, OBSERVE]),   # zero, odd, misaligned
    st.sampled_from([CBIT - 16, CBIT - PAGE, CBIT - 1, TOP - 16, TOP - 64, TOP - CERT, TOP - 1]),  # the top
    st.sampled_from([TOP, TOP + PAGE, 1 << 63, (1 << 64) - 1, (1 << 64) - 16]),       # past the end
    _u(64),
)
# Lengths: the sizes the commands know, around them, small ones, and huge ones. A huge length
# that is a multiple of 16 is left out: LAUNCH_UPDATE_DATA and DBG_* have no upper bound and
# really process that many bytes, gigabytes on the model (reported, not fixed: a limit would be
# a new [U] model choice).
LENGTHS = st.one_of(
    st.sampled_from([0, 1, 15, 16, 17, 48, 52, 64, 128, 208, CERT - 1, CERT, CERT + 1, 3 * CERT,
                     2 * 832, 2 * 1600, PAGE - 16, PAGE, PAGE + 16, 0x4000, 0x4001, 0xFFFFFFFF]),
    st.integers(0, 2 * PAGE),
    st.integers(1 << 16, (1 << 32) - 1).map(lambda n: n | 1),
)
HANDLE_VALUES = _weighted((6, st.sampled_from([1, 1, 1, 2, 3, 0])), (1, st.sampled_from([0xFFFFFFFF, 0x80000001])),
                          (1, _u(32)))
POLICIES = st.one_of(st.sampled_from([0, 0, NODBG, NOKS, NOSEND, ES, 0x40, 0xFFFFFFFF]), _u(32))
COMMAND_IDS = _weighted((9, st.sampled_from(list(CommandId))), (1, _u(16)))
BUFFER_ADDRESSES = _weighted(
    (8, st.integers(0, 15).map(lambda n: BUFFER + 16 * n)),
    (1, st.integers(BUFFER, BUFFER + 0xFF)),
    (1, st.sampled_from([0, 1, BUFFER + 1, CBIT | BUFFER, TOP - 8, TOP - 0x24, TOP, (1 << 64) - 1])),
)
_SMALL = st.integers(1, PAGE // 16).map(lambda n: 16 * n)
_GUEST_PAGE = st.sampled_from([GUEST, GUEST + PAGE, GUEST | CBIT, GUEST + PAGE | CBIT])
_TRANSPORT = {"header_address": st.just(OWNER_OCA + 0x900), "header_length": st.just(52),
              "guest_address": _GUEST_PAGE, "guest_length": _SMALL,
              "trans_address": st.just(OUT + PAGE), "trans_length": _SMALL}
#: Field values that get a command past its first checks (a buffer a host would write); each
#: field takes one of these about half of the time, so that the deeper checks are reached.
PLAUSIBLE = {
    C.INIT: {"flags": st.sampled_from([0, 1]), "tmr_address": st.just(TMR), "tmr_length": st.just(1 << 20)},
    C.PEK_CSR: {"address": st.just(OUT), "length": st.just(CERT)},
    C.PEK_CERT_IMPORT: {"pek_cert_address": st.just(OWNER_PEK), "pek_cert_length": st.just(CERT),
                        "oca_cert_address": st.just(OWNER_OCA), "oca_cert_length": st.just(CERT)},
    C.PDH_CERT_EXPORT: {"pdh_cert_address": st.just(OUT), "pdh_cert_length": st.just(CERT),
                        "cert_chain_address": st.just(OUT + PAGE), "cert_chain_length": st.just(3 * CERT)},
    C.GET_ID: {"address": st.just(OUT), "length": st.just(64)},
    C.ACTIVATE: {"asid": st.integers(1, CONFIG.slots - 1)},
    C.LAUNCH_START: {"handle": st.just(0), "policy": st.sampled_from([0, NODBG]),
                     "dh_cert_address": st.just(GODH), "dh_cert_length": st.just(CERT),
                     "session_address": st.just(SESSION), "session_length": st.just(128)},
    C.LAUNCH_UPDATE_DATA: {"address": _GUEST_PAGE, "length": _SMALL},
    C.LAUNCH_UPDATE_VMSA: {"address": _GUEST_PAGE, "length": st.just(PAGE)},
    C.LAUNCH_MEASURE: {"address": st.just(OUT), "length": st.just(48)},
    C.LAUNCH_SECRET: _TRANSPORT,
    C.ATTESTATION: {"address": st.just(OUT), "length": st.just(208)},
    C.SEND_START: {"pdh_cert_address": st.just(TARGET_PDH), "pdh_cert_length": st.just(CERT),
                   "plat_certs_address": st.just(TARGET_CHAIN), "plat_certs_length": st.just(3 * CERT),
                   "amd_certs_address": st.just(TARGET_AMD), "amd_certs_length": st.just(2 * 832),
                   "session_address": st.just(OUT), "session_length": st.just(128)},
    C.SEND_UPDATE_DATA: {**_TRANSPORT, "header_address": st.just(OUT), "trans_length": st.just(PAGE)},
    C.SEND_UPDATE_VMSA: {**_TRANSPORT, "header_address": st.just(OUT), "guest_length": st.just(PAGE),
                         "trans_length": st.just(PAGE)},
    C.RECEIVE_START: {"handle": st.just(0), "policy": st.just(0), "pdh_cert_address": st.just(GODH),
                      "pdh_cert_length": st.just(CERT), "session_address": st.just(SESSION),
                      "session_length": st.just(128)},
    C.RECEIVE_UPDATE_DATA: _TRANSPORT,
    C.RECEIVE_UPDATE_VMSA: {**_TRANSPORT, "guest_length": st.just(PAGE)},
    **{command: {"src_address": _GUEST_PAGE, "dst_address": st.sampled_from([OUT, GUEST + PAGE, GUEST | CBIT]),
                 "length": _SMALL} for command in (C.DBG_DECRYPT, C.DBG_ENCRYPT)},
}


def _field(field, plausible=None):
    """A strategy for one buffer field, by its name and type (and a plausible value, if any)."""
    if plausible is not None:
        return _weighted((2, plausible), (1, _field(field)))
    if field.type == "nonce":
        return st.binary(min_size=16, max_size=16)
    bits = 8 * field.size
    if field.name.endswith("address"):
        return ADDRESSES
    if field.name.endswith("length"):
        return LENGTHS
    if field.name == "handle":
        return HANDLE_VALUES
    if field.name == "asid":
        return st.one_of(st.integers(0, 20), _u(32))
    if field.name == "policy":
        return POLICIES
    if field.name == "flags":
        return st.one_of(st.sampled_from([0, 1, 2]), _u(bits))
    return _u(bits)


@st.composite
def commands(draw):
    """One mailbox call: (command ID, buffer address, the buffer: field values over random bytes).

    The fields are all plausible, or all but one, or each drawn on its own (plausible or from
    the boundary values), so that both the first checks and the deep ones are reached."""
    command_id = draw(COMMAND_IDS)
    try:
        command = CommandId(command_id)
    except ValueError:
        command = draw(st.sampled_from(list(CommandId)))     # an unknown ID over some buffer
    layout, plausible = LAYOUTS[command], PLAUSIBLE.get(command, {})
    mode = draw(st.sampled_from(["plausible", "one field off", "each field"]))
    odd_one = draw(st.sampled_from([f.name for f in layout.fields])) if layout.fields else None
    fields = {}
    for field in layout.fields:
        if field.name in plausible and (mode == "plausible" or mode == "one field off" and field.name != odd_one):
            fields[field.name] = draw(plausible[field.name])
        else:
            fields[field.name] = draw(_field(field, plausible.get(field.name)))
    filler = draw(st.binary(min_size=layout.size, max_size=layout.size))
    return command_id, draw(BUFFER_ADDRESSES), layout.pack(fields, into=filler)


@st.composite
def examples(draw):
    return {
        "situation": draw(st.sampled_from(SITUATIONS)),
        "sme": draw(st.booleans()),                           # UNINIT only; the others boot with SME on
        "policy": draw(st.sampled_from([0, NODBG, NOKS, NOSEND, NODBG | NOKS])),
        "activated": draw(st.booleans()),                     # LUPDATE: bound to ASID 2 or not
        "seed": draw(_u(32)),                                 # the random bytes of the data areas
        # For each place: nothing, random bytes, or the valid structure (where it has one).
        "places": draw(st.lists(st.sampled_from(["empty", "random", "valid", "valid", "valid"]),
                                min_size=PLACES, max_size=PLACES)),
        "commands": draw(st.lists(commands(), min_size=1, max_size=5)),
    }


# The firmware in a situation ----------------------------------------------------------------------

async def call(firmware, command, buffer_address, **fields):
    """A command the test issues itself, buffer at ``buffer_address``; (status, outputs)."""
    layout, machine = LAYOUTS[command], firmware.machine
    if layout.size:
        await machine.write(buffer_address, layout.pack(fields), port="priv")
    status = await firmware.command(command, buffer_address)
    outputs = layout.unpack(await machine.read(buffer_address, layout.size, port="priv")) if layout.size else {}
    return status, outputs


async def must(firmware, command, **fields):
    status, outputs = await call(firmware, command, OBSERVE, **fields)
    assert status is Status.SUCCESS, f"setting up the situation: {command.name} gave {status.name}"
    return outputs


async def launch(firmware, policy, rng, *, asid, owner_session=None):
    """A guest launched with ``policy``, bound to ``asid`` (unless None), 4 KiB measured."""
    if owner_session is None:
        handle = (await must(firmware, C.LAUNCH_START, policy=policy))["handle"]
    else:
        godh, blob = owner_session
        await firmware.machine.write(SCRATCH, godh + blob, port="priv")
        handle = (await must(firmware, C.LAUNCH_START, policy=policy, dh_cert_address=SCRATCH,
                             dh_cert_length=CERT, session_address=SCRATCH + CERT,
                             session_length=session.SESSION_SIZE))["handle"]
    if asid is not None:
        await must(firmware, C.ACTIVATE, handle=handle, asid=asid)
        await firmware.machine.write(GUEST, rng.randbytes(PAGE), port="priv")
        await must(firmware, C.LAUNCH_UPDATE_DATA, handle=handle, address=GUEST, length=PAGE)
    return handle


def _owner_session(pdh, policy):
    """A guest owner's GODH certificate and session for the platform's PDH (valid LAUNCH_START
    and RECEIVE_START inputs)."""
    godh_key = ec.generate_private_key(ec.SECP384R1())
    godh = certs.make_sev_certificate(usage=certs.Usage.PDH, public_key=godh_key.public_key())
    blob = session.build_session(godh_key, pdh.public_key.to_cryptography(), bytes(16), bytes(range(16)), policy)
    return godh.to_bytes(), blob.to_bytes()


def _owner_import(pek):
    """An owner's OCA and this platform's PEK signed by it (a valid PEK_CERT_IMPORT)."""
    oca_key = ec.generate_private_key(ec.SECP384R1())
    oca = certs.sign_sev_certificate(certs.make_sev_certificate(usage=certs.Usage.OCA,
                                                                public_key=oca_key.public_key()),
                                     oca_key, usage=certs.Usage.OCA, slot=1)
    unsigned = certs.make_sev_certificate(usage=certs.Usage.PEK, public_key=pek.public_key.to_cryptography())
    return certs.sign_sev_certificate(unsigned, oca_key, usage=certs.Usage.OCA, slot=1).to_bytes(), oca.to_bytes()


async def set_up(firmware, example):
    """Put the firmware into the example's situation and fill the data area."""
    machine, rng = firmware.machine, random.Random(example["seed"])
    situation, policy = example["situation"], example["policy"]
    if situation != "UNINIT" or example["sme"]:
        await UnitDriver(machine).configure(sme_enable=True)
    if situation != "UNINIT":
        await must(firmware, C.INIT)
        await machine.write(GUEST, rng.randbytes(GUEST_BYTES), port="priv")
    if situation == "RUNNING":
        handle = await launch(firmware, policy, rng, asid=1)
        await must(firmware, C.LAUNCH_MEASURE, handle=handle, address=SCRATCH, length=48)
        await must(firmware, C.LAUNCH_FINISH, handle=handle)
    elif situation == "LUPDATE":
        pdh = firmware.platform_chain()[-1]
        await launch(firmware, policy, rng, asid=2 if example["activated"] else None,
                     owner_session=_owner_session(pdh, policy))
    valid = {}
    if "pdh_key" in firmware.store:                 # the platform has an identity (after INIT)
        ark, ask, cek, oca, pek, pdh = firmware.platform_chain()
        godh, blob = _owner_session(pdh, 0)
        owner_pek, owner_oca = _owner_import(pek)
        valid = {GODH: godh, SESSION: blob, TARGET_PDH: pdh.to_bytes(),
                 TARGET_CHAIN: pek.to_bytes() + oca.to_bytes() + cek.to_bytes(),
                 TARGET_AMD: ask.to_bytes() + ark.to_bytes(), OWNER_PEK: owner_pek, OWNER_OCA: owner_oca}
    places = [(DATA + n * PAGE, fill) for n, fill in enumerate(example["places"])]
    for place, fill in places:
        if fill != "empty":
            await machine.write(place, rng.randbytes(PAGE), port="priv")
    for place, fill in places:              # after: the target's chain runs into the next place
        if fill == "valid" and place in valid:
            await machine.write(place, valid[place], port="priv")


# What a refused command must not change -----------------------------------------------------------

async def observe(firmware):
    """Everything the host or a guest can see of the firmware, except memory."""
    machine, slots = firmware.machine, KeySlotDriver(firmware.machine)
    guests = {handle: (g.policy.to_int(), g.state, g.asid, g.vek, g.tek, g.tik, g.measure, g.digest.digest(),
                       g.packet_sequence)
              for handle, g in firmware.guests.items()}
    return {
        "platform_status": await call(firmware, C.PLATFORM_STATUS, OBSERVE),
        "store": firmware.store.snapshot(),
        "guest_status": {handle: await call(firmware, C.GUEST_STATUS, OBSERVE, handle=handle) for handle in HANDLES},
        "guest_contexts": guests,
        "dirty_asids": (set(firmware.dirty_asids), firmware.wbinvd_count_at_deactivate),
        "slots_valid": [await slots.valid(slot) for slot in SLOTS],
        "unit": await UnitDriver(machine).config(),
    }


async def dram_image(machine):
    """Every line DRAM holds, read through the backdoor (lines never written read as zeros)."""
    return {line: await machine.dram_read(line, 64) for line in sorted(machine.unit.dram)}


def _without(image, start, length):
    """``image`` with the bytes ``[start, start + length)`` (the command buffer) zeroed."""
    out = dict(image)
    for line in list(out):
        low, high = max(start, line), min(start + length, line + 64)
        if low < high:
            data = bytearray(out[line])
            data[low - line:high - line] = bytes(high - low)
            out[line] = bytes(data)
    return out


def _describe(command_id, address, raw):
    try:
        name = CommandId(command_id).name
        fields = LAYOUTS[CommandId(command_id)].unpack(raw)
    except ValueError:
        name, fields = f"unknown {command_id:#06x}", {}
    shown = {k: (v if isinstance(v, bytes) else hex(v)) for k, v in fields.items()}
    return f"{name} at {address:#x} {shown}"


async def check_commands(firmware, example):
    """Run the example's commands; return a list of (description, status) for the report."""
    machine = firmware.machine
    ran = []
    for command_id, address, raw in example["commands"]:
        try:
            await machine.write(address, raw, port="priv")
        except (BusError, ValueError):
            pass            # the host cannot write there either; the firmware gets what is there
        what = _describe(command_id, address, raw)
        before, memory = await observe(firmware), await dram_image(machine)
        try:
            status = await firmware.command(command_id, address)
        except Exception as error:  # noqa: BLE001 - the property is that nothing escapes
            raise AssertionError(f"{what}: the mailbox raised {error!r} instead of returning a status") from error
        assert isinstance(status, Status), f"{what}: returned {status!r}, not a Status"
        ran.append((what, status))
        if status is Status.SUCCESS:
            continue
        size = LAYOUTS[CommandId(command_id)].size if command_id in KNOWN_IDS else 0
        memory_after = await dram_image(machine)
        after = await observe(firmware)
        for name in before:
            assert after[name] == before[name], (
                f"{what} gave {status.name} but changed {name}: {before[name]!r} -> {after[name]!r}")
        memory, memory_after = _without(memory, address, size), _without(memory_after, address, size)
        changed = [line for line in sorted(set(memory) | set(memory_after))
                   if memory.get(line, bytes(64)) != memory_after.get(line, bytes(64))]
        assert not changed, f"{what} gave {status.name} but changed DRAM lines {[hex(n) for n in changed]}"
    return ran


def fuzz(chip, example):
    store = chip.store()

    async def scenario(machine):
        firmware = SEVFirmware(machine, store)
        await set_up(firmware, example)
        return await check_commands(firmware, example)

    return run(scenario, backend="model", config=CONFIG)[0]


_SETTINGS = {
    "database": None,                   # nothing written into the source tree
    "deadline": None,                   # P-384 key generation and RSA-free INIT vary in time
    "derandomize": True,                # the same examples on every run (CI is reproducible)
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.function_scoped_fixture],
}


@settings(max_examples=300, **_SETTINGS)
@given(example=examples())
def test_mailbox_returns_a_status_and_a_refusal_changes_nothing(chip, example):
    fuzz(chip, example)


@pytest.mark.extended
@settings(max_examples=2000, **_SETTINGS)
@given(example=examples())
def test_mailbox_returns_a_status_and_a_refusal_changes_nothing_extended(chip, example):
    fuzz(chip, example)


# Bugs the fuzzer found, one example each -----------------------------------------------------------

def _running(chip, scenario):
    """Run ``scenario(firmware)`` on a platform with a RUNNING guest (handle 1, ASID 1) and valid
    structures in every place of the data area."""
    example = {"situation": "RUNNING", "sme": True, "policy": 0, "activated": True, "seed": 1,
               "places": ["valid"] * PLACES, "commands": []}

    async def outer(machine):
        firmware = SEVFirmware(machine, chip.store())
        await set_up(firmware, example)
        return await scenario(firmware)

    return run(outer, backend="model", config=CONFIG)[0]


@pytest.mark.parametrize("chain_address", [TOP - 16, CBIT | OUT + PAGE], ids=["past-the-end", "refused"])
def test_pdh_cert_export_refused_chain_leaves_pdh_buffer_unwritten(chip, chain_address):
    """PDH_CERT_EXPORT wrote the PDH, then found the chain's buffer outside memory (or refused by
    the unit: C-bit set, no key for ASID 0) and failed with the PDH already written."""
    async def scenario(firmware):
        before = await firmware.machine.dram_read(OUT, CERT)
        status, _ = await call(firmware, C.PDH_CERT_EXPORT, BUFFER, pdh_cert_address=OUT, pdh_cert_length=CERT,
                               cert_chain_address=chain_address, cert_chain_length=3 * CERT)
        return status, before, await firmware.machine.dram_read(OUT, CERT)

    status, before, after = _running(chip, scenario)
    assert status is Status.INVALID_ADDRESS, f"PDH_CERT_EXPORT gave {status.name}, expected INVALID_ADDRESS"
    assert after == before, "a refused PDH_CERT_EXPORT wrote the PDH certificate"


@pytest.mark.parametrize("command", [C.ATTESTATION, C.GET_ID, C.PEK_CSR], ids=lambda c: c.name)
def test_output_range_across_the_cbit_is_refused_whole(chip, command):
    """An output range that starts just below the C-bit: its first line was written (C=0), the
    next refused (C=1, no key for ASID 0), and the command failed with the first line changed."""
    address = CBIT - 16
    fields = {C.ATTESTATION: {"handle": 1, "address": address, "mnonce": bytes(range(1, 17)), "length": 208},
              C.GET_ID: {"address": address, "length": 64},
              C.PEK_CSR: {"address": address, "length": CERT}}[command]

    async def scenario(firmware):
        if command is C.PEK_CSR:                        # INIT only, not WORKING
            await must(firmware, C.DEACTIVATE, handle=1)
            await must(firmware, C.DECOMMISSION, handle=1)
        line = address - address % 64
        before = await firmware.machine.dram_read(line, 64)
        status, _ = await call(firmware, command, BUFFER, **fields)
        return status, before, await firmware.machine.dram_read(line, 64)

    status, before, after = _running(chip, scenario)
    assert status is Status.INVALID_ADDRESS, f"{command.name} gave {status.name}, expected INVALID_ADDRESS"
    assert after == before, f"a refused {command.name} wrote the line below the C-bit"


def test_send_update_refused_header_leaves_transport_buffer_unwritten(chip):
    async def scenario(firmware):
        machine = firmware.machine
        await must(firmware, C.SEND_START, handle=1, pdh_cert_address=TARGET_PDH, pdh_cert_length=CERT,
                   plat_certs_address=TARGET_CHAIN, plat_certs_length=3 * CERT, amd_certs_address=TARGET_AMD,
                   amd_certs_length=2 * 832, session_address=OUT, session_length=128)
        before = await machine.dram_read(OUT + PAGE, PAGE)
        # The header's address has the C-bit: the unit refuses it (no key for ASID 0).
        status, _ = await call(firmware, C.SEND_UPDATE_DATA, BUFFER, handle=1, header_address=CBIT | OUT,
                               header_length=52, guest_address=GUEST, guest_length=PAGE,
                               trans_address=OUT + PAGE, trans_length=PAGE)
        return status, before, await machine.dram_read(OUT + PAGE, PAGE)

    status, before, after = _running(chip, scenario)
    assert status is Status.INVALID_ADDRESS, f"SEND_UPDATE_DATA gave {status.name}, expected INVALID_ADDRESS"
    assert after == before, "a refused SEND_UPDATE_DATA wrote the transport buffer"
