"""The serial bridge (rtl/bridge) on its own: frames in on ``rx``; its AXI ports and register
buses against subordinates modelled here, with idle cycles and backpressure on every channel;
the answers on ``tx`` checked against what the frame table (``protocol.py``) says they are.
Bursts of 1-4 beats on each port, read beats that arrive with gaps, refused beat counts, unknown
ops between requests, the register ops and CYCLES. The bridge inside a board's system, against
the golden model: tests/rtl/test_bridge.py."""

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from sevlab.rtl.bridge import REQUEST, RESPONSE, UNKNOWN_OP, Op, SerialBridge, request_length, response_length
from sevlab.rtl.layouts import AXIBurst

ADDRESS_WIDTH, ASID_WIDTH = 24, 2           # the iCEBreaker's memory system
OKAY, SLVERR, DECERR = 0, 2, 3
#: The port each memory op runs on, as protocol.py's table has it.
PORT_OF = {Op.HOST_READ: "host", Op.HOST_WRITE: "host", Op.PRIV_READ: "priv", Op.PRIV_WRITE: "priv",
           Op.DRAM_READ: "dram", Op.DRAM_WRITE: "dram"}
#: The register bus each register op runs on.
BUS_OF = {Op.MAINT_READ: "maint", Op.MAINT_WRITE: "maint", Op.SECURE_READ: "csr", Op.SECURE_WRITE: "csr"}
SALT = {"host": 1, "priv": 2, "dram": 3, "csr": 4, "maint": 5}
STALLS = {"no stalls": dict(idle=0.0, backpressure=0.0),
          "idle and backpressure": dict(idle=0.4, backpressure=0.4)}


def pattern(port, address):
    """What a port's memory holds at ``address`` until written: different on each port, so that
    a burst on the wrong port shows."""
    return (address * 7 + (address >> 8) * 13 + 59 * SALT[port]) & 0xFF


def initial_register(bus, address):
    return (0x01010101 * (address + 1) * SALT[bus] + 0x9E3779B9 * address) & 0xFFFF_FFFF


def _gap(rng, idle):
    """Idle cycles before an offer: none, or as many as a coin of bias ``idle`` comes up."""
    cycles = 0
    while idle and rng.random() < idle:
        cycles += 1
    return cycles


class Script:
    """Requests, and the answers, bursts and register accesses that the frame table says they
    make, given what each port's memory holds and which beats its subordinate fails."""

    def __init__(self, errors=None):
        self.frames = bytearray()
        self.answers = bytearray()
        self.memory = {port: {} for port in ("host", "priv", "dram")}
        self.errors = errors or {}
        self.bursts = {port: [] for port in self.memory}
        self.accesses = {"csr": [], "maint": []}
        self.registers = {"csr": {}, "maint": {}}

    def _status(self, port, address, beats):
        # A burst's status is the worst of its beats' (the largest response code).
        failing = self.errors.get(port, {})
        return max(failing.get(address + 16 * k, OKAY) for k in range(beats))

    def _user(self, port, asid):
        return None if port == "dram" else asid         # the DRAM ops ignore the ASID

    def _request(self, op, fields, beats=0):
        assert len(fields) == request_length(op, beats)
        self.frames += bytes([REQUEST, op]) + fields

    def write(self, op, address, beats, asid=0):
        """``beats``: (strobes, 16 data bytes) each."""
        port = PORT_OF[op]
        header = address.to_bytes(6, "little") + bytes([asid, len(beats)])
        self._request(op, header + b"".join(s.to_bytes(2, "little") + d for s, d in beats), len(beats))
        for k, (strobes, data) in enumerate(beats):
            for j in range(16):
                if strobes >> j & 1:
                    self.memory[port][address + 16 * k + j] = data[j]
        self.bursts[port].append(("write", address, len(beats), self._user(port, asid)))
        self.answers += bytes([RESPONSE, op, self._status(port, address, len(beats))])

    def read(self, op, address, beats, asid=0):
        port = PORT_OF[op]
        self._request(op, address.to_bytes(6, "little") + bytes([asid, beats]))
        data = bytes(self.memory[port].get(a, pattern(port, a)) for a in range(address, address + 16 * beats))
        assert len(data) == response_length(op, beats)
        self.bursts[port].append(("read", address, beats, self._user(port, asid)))
        self.answers += bytes([RESPONSE, op, self._status(port, address, beats)]) + data

    def register_write(self, op, address, word):
        bus = BUS_OF[op]
        self._request(op, bytes([address]) + word.to_bytes(4, "little"))
        self.registers[bus][address] = word
        self.accesses[bus].append(("write", address, word))
        self.answers += bytes([RESPONSE, op, OKAY])

    def register_read(self, op, address):
        bus = BUS_OF[op]
        self._request(op, bytes([address]))
        word = self.registers[bus].get(address, initial_register(bus, address))
        self.accesses[bus].append(("read", address, word))
        self.answers += bytes([RESPONSE, op, OKAY]) + word.to_bytes(4, "little")

    def refused(self, frame, op, status):
        """A frame the bridge answers with ``status`` and no data, touching no bus."""
        self.frames += frame
        self.answers += bytes([RESPONSE, op, status])


class Subordinate:
    """An AXI subordinate on one of the bridge's ports: a byte memory (:func:`pattern` until
    written), bursts answered in order, beats at ``errors`` (address: response) answered with
    their response, and idle cycles
    before its valids and backpressure on its readies at random (``r_gaps``: the idle cycles
    before each R beat, in order, before any random ones). Records the bursts it is asked for
    and checks the manager's rules: a valid stays up, its payload unchanged, until taken."""

    def __init__(self, bus, port, rng, *, idle, backpressure, errors=(), r_gaps=()):
        self.bus, self.port, self.rng = bus, port, rng
        self.idle, self.backpressure = idle, backpressure
        self.memory = {}
        self.errors = dict(errors)
        self.bursts = []                # ("read" or "write", address, beats, ASID or None)
        self.r_beats_taken = 0
        self._has_user = hasattr(bus, "aruser")
        self._r_gaps = deque(r_gaps)
        self._r = deque()               # R beats due: [idle cycles left, data, resp, last]
        self._b = deque()               # B responses due: [idle cycles left, resp]
        self._aw = deque()              # (address, beats, asid) of writes waiting for their data
        self._w = []                    # W beats taken and not yet matched: (data, strobes, last)
        self._held = {}                 # channel -> payload offered and not taken last cycle

    def busy(self):
        return bool(self._r or self._b or self._aw or self._w or self._held)

    def _ready(self):
        return not (self.backpressure and self.rng.random() < self.backpressure)

    def drive(self, ctx):
        bus = self.bus
        self._ready_now = {channel: self._ready() for channel in ("ar", "aw", "w")}
        ctx.set(bus.arready, self._ready_now["ar"])
        ctx.set(bus.awready, self._ready_now["aw"])
        ctx.set(bus.wready, self._ready_now["w"])
        r = self._r[0] if self._r and self._r[0][0] == 0 else None
        ctx.set(bus.rvalid, r is not None)
        # Without rvalid, rdata means nothing: junk, so that a beat taken early shows.
        ctx.set(bus.rdata, r[1] if r else self.rng.getrandbits(128))
        ctx.set(bus.rresp, r[2] if r else 3)
        ctx.set(bus.rlast, r[3] if r else self.rng.getrandbits(1))
        b = self._b[0] if self._b and self._b[0][0] == 0 else None
        ctx.set(bus.bvalid, b is not None)
        ctx.set(bus.bresp, b[1] if b else 3)

    def _check_held(self, channel, valid, ready, payload):
        held = self._held.pop(channel, None)
        assert held is None or (valid and payload == held), \
            f"{self.port} {channel}: {held} offered, then {payload if valid else 'withdrawn'} before it was taken"
        if valid and not ready:
            self._held[channel] = payload

    def _address_channel(self, ctx, channel):
        bus = self.bus
        valid = ctx.get(getattr(bus, f"{channel}valid"))
        payload = None
        if valid:
            payload = tuple(ctx.get(getattr(bus, f"{channel}{name}"))
                            for name in ("addr", "len", "size", "burst", "id"))
            payload += (ctx.get(getattr(bus, f"{channel}user")) if self._has_user else None,)
        self._check_held(channel, valid, self._ready_now[channel], payload)
        if not (valid and self._ready_now[channel]):
            return None
        address, length, size, burst, ident, user = payload
        assert (size, burst, ident) == (4, AXIBurst.INCR, 0), \
            f"{self.port} {channel}: size, burst, ID {size, burst, ident}"
        self.bursts.append(("read" if channel == "ar" else "write", address, length + 1, user))
        return address, length + 1, user

    def observe(self, ctx):
        """The handshakes of this cycle (the bridge's outputs settled on this cycle's inputs)."""
        bus = self.bus
        read = self._address_channel(ctx, "ar")
        if read is not None:
            address, beats, _ = read
            for k in range(beats):
                beat_address = address + 16 * k
                data = sum(self.memory.get(beat_address + j, pattern(self.port, beat_address + j)) << 8 * j
                           for j in range(16))
                gap = self._r_gaps.popleft() if self._r_gaps else _gap(self.rng, self.idle)
                self._r.append([gap, data, self.errors.get(beat_address, OKAY), k == beats - 1])
        write = self._address_channel(ctx, "aw")
        if write is not None:
            self._aw.append(write)
        valid = ctx.get(bus.wvalid)
        w = (ctx.get(bus.wdata), ctx.get(bus.wstrb), ctx.get(bus.wlast)) if valid else None
        self._check_held("w", valid, self._ready_now["w"], w)
        if valid and self._ready_now["w"]:
            self._w.append(w)
        while self._aw and len(self._w) >= self._aw[0][1]:
            address, beats, _ = self._aw.popleft()
            self._complete_write(address, beats)
        if self._r and self._r[0][0] == 0 and ctx.get(bus.rready):
            self._r.popleft()
            self.r_beats_taken += 1
        if self._b and self._b[0][0] == 0 and ctx.get(bus.bready):
            self._b.popleft()

    def _complete_write(self, address, beats):
        taken, self._w = self._w[:beats], self._w[beats:]
        lasts = [last for _, _, last in taken]
        assert lasts == [0] * (beats - 1) + [1], f"{self.port}: wlast {lasts} on a burst of {beats}"
        for k, (data, strobes, _) in enumerate(taken):
            for j in range(16):
                if strobes >> j & 1:
                    self.memory[address + 16 * k + j] = data >> 8 * j & 0xFF
        resp = max(self.errors.get(address + 16 * k, OKAY) for k in range(beats))
        self._b.append([_gap(self.rng, self.idle), resp])

    def tick(self):
        """A cycle passed: the first due R beat and B response come nearer."""
        for queue in (self._r, self._b):
            if queue and queue[0][0]:
                queue[0][0] -= 1


class RegisterFile:
    """The registers behind a register bus (:func:`initial_register` until written): read data
    in the cycle after ``r_stb``, junk in every other. Records every access."""

    def __init__(self, bus, name, rng):
        self.bus, self.name, self.rng = bus, name, rng
        self.values = {}
        self.accesses = []              # ("read" or "write", address, word)
        self._answer = self._next = None

    def drive(self, ctx):
        ctx.set(self.bus.r_data, self._answer if self._answer is not None else self.rng.getrandbits(32))

    def observe(self, ctx):
        bus = self.bus
        reading, writing = ctx.get(bus.r_stb), ctx.get(bus.w_stb)
        assert not (reading and writing), f"{self.name}: r_stb and w_stb in one cycle"
        self._next = None
        if reading:
            address = ctx.get(bus.addr)
            self._next = self.values.get(address, initial_register(self.name, address))
            self.accesses.append(("read", address, self._next))
        if writing:
            address, word = ctx.get(bus.addr), ctx.get(bus.w_data)
            self.values[address] = word
            self.accesses.append(("write", address, word))

    def tick(self):
        self._answer = self._next


class TB:
    """The bridge, its subordinates and register files, and the byte streams: ``rx`` offered
    with idle cycles, ``tx`` taken with backpressure (both at random, from ``seed``)."""

    def __init__(self, *, idle=0.0, backpressure=0.0, seed=0, errors=None, r_gaps=None):
        self.bridge = SerialBridge(address_width=ADDRESS_WIDTH, asid_width=ASID_WIDTH)
        self.rng = random.Random(seed)
        self.idle, self.backpressure = idle, backpressure
        errors, r_gaps = errors or {}, r_gaps or {}
        self.ports = {port: Subordinate(getattr(self.bridge, port), port, self.rng, idle=idle,
                                        backpressure=backpressure, errors=errors.get(port, {}),
                                        r_gaps=r_gaps.get(port, ()))
                      for port in ("host", "priv", "dram")}
        self.registers = {bus: RegisterFile(getattr(self.bridge, bus), bus, self.rng) for bus in ("csr", "maint")}
        self.rx_taken = []              # the cycle each request byte was taken in
        self.tx_taken = []              # the cycle each response byte was taken in

    def run(self, frames, answer_length, *, max_cycles=20_000, quiet=100):
        """Send ``frames``; return the first ``answer_length`` bytes answered. Then ``quiet``
        more cycles in which the bridge must answer nothing, after which every request byte
        must have been taken and every subordinate be idle."""
        answers = bytearray()
        models = [*self.ports.values(), *self.registers.values()]

        async def testbench(ctx):
            rx, tx = self.bridge.rx, self.bridge.tx
            to_send = deque(frames)
            offered = False
            held = None                 # a response byte offered and not taken last cycle
            quiet_until = None
            for cycle in range(max_cycles):
                offered = offered or bool(to_send) and not (self.idle and self.rng.random() < self.idle)
                ctx.set(rx.valid, offered)
                if offered:
                    ctx.set(rx.payload, to_send[0])
                ready = not (self.backpressure and self.rng.random() < self.backpressure)
                ctx.set(tx.ready, ready)
                for model in models:
                    model.drive(ctx)
                if offered and ctx.get(rx.ready):
                    to_send.popleft()
                    offered = False
                    self.rx_taken.append(cycle)
                valid, payload = ctx.get(tx.valid), ctx.get(tx.payload)
                assert held is None or (valid and payload == held), \
                    f"cycle {cycle}: response byte {held:#04x} withdrawn or changed before it was taken"
                held = payload if valid and not ready else None
                if valid and ready:
                    assert quiet_until is None, f"cycle {cycle}: a byte ({payload:#04x}) past the answers expected"
                    answers.append(payload)
                    self.tx_taken.append(cycle)
                for model in models:
                    model.observe(ctx)
                await ctx.tick()
                for model in models:
                    model.tick()
                if quiet_until is None and len(answers) == answer_length:
                    quiet_until = cycle + quiet
                if cycle == quiet_until:
                    return
            raise TimeoutError(f"{len(answers)} of {answer_length} response bytes after {max_cycles} cycles")

        sim = Simulator(self.bridge)
        sim.add_clock(1e-8)
        sim.add_testbench(testbench)
        sim.run()
        assert len(self.rx_taken) == len(frames), f"{len(self.rx_taken)} of {len(frames)} request bytes taken"
        busy = [port for port, model in self.ports.items() if model.busy()]
        assert not busy, f"unfinished bursts on {busy}"
        return bytes(answers)

    def check(self, script):
        """Run ``script``: its answers, and exactly its bursts and register accesses."""
        got = self.run(script.frames, len(script.answers))
        assert got == bytes(script.answers), _first_difference(got, script.answers)
        for port, model in self.ports.items():
            assert model.bursts == script.bursts[port], f"{port}: bursts {model.bursts}, expected {script.bursts[port]}"
        for bus, model in self.registers.items():
            assert model.accesses == script.accesses[bus], \
                f"{bus}: accesses {model.accesses}, expected {script.accesses[bus]}"


def _first_difference(got, expected):
    at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    return (f"answers differ from byte {at}: got {got[at:at + 8].hex()}, expected {bytes(expected[at:at + 8]).hex()} "
            f"({len(got)} and {len(expected)} bytes)")


def _beats(rng, count):
    """``count`` written beats: random data, random strobes, the first with all 16 set."""
    return [(0xFFFF if k == 0 else rng.getrandbits(16), rng.randbytes(16)) for k in range(count)]


@pytest.mark.parametrize("stalls", STALLS)
def test_bursts_of_one_to_four_beats_on_each_port_read_back_what_was_written(stalls):
    rng = random.Random(5)
    script = Script()
    for write, read in ((Op.HOST_WRITE, Op.HOST_READ), (Op.PRIV_WRITE, Op.PRIV_READ),
                        (Op.DRAM_WRITE, Op.DRAM_READ)):
        for beats in (1, 2, 3, 4):
            # Every address byte different, so that a byte out of place shows; the top of the
            # 24-bit space too.
            for address in (0x3A5C40 + 0x100 * beats, (1 << ADDRESS_WIDTH) - 16 * beats):
                asid = rng.randrange(1 << ASID_WIDTH)
                script.write(write, address, _beats(rng, beats), asid)
                script.read(read, address - 16, beats + (beats < 4), asid)     # from before it, where it fits
        script.write(write, 0x1230, [(0, rng.randbytes(16))])                   # no strobes: nothing written
        script.read(read, 0x1230, 1)
    TB(**STALLS[stalls], seed=1).check(script)


@pytest.mark.parametrize("stalls", STALLS)
def test_a_read_whose_beats_arrive_with_gaps_answers_every_beat_in_order(stalls):
    # The gaps before each R beat (after AR, then after each beat taken): none (a beat waiting
    # while the one before is stored), a cycle, many; the third beat of the second burst fails,
    # and its status is the burst's, its data still sent.
    r_gaps = {"host": [0, 0, 1, 57, 3, 0, 0, 0], "dram": [40, 0, 0, 2]}
    script = Script(errors={"host": {0x2020: SLVERR}})
    script.read(Op.HOST_READ, 0x1000, 4, asid=3)
    script.read(Op.HOST_READ, 0x2000, 4, asid=1)
    script.read(Op.DRAM_READ, 0x0FC0, 4)
    tb = TB(**STALLS[stalls], seed=2, errors=script.errors, r_gaps=r_gaps)
    tb.check(script)
    assert tb.ports["host"].r_beats_taken == 8 and tb.ports["dram"].r_beats_taken == 4


@pytest.mark.parametrize("stalls", STALLS)
def test_a_write_that_fails_is_answered_slverr(stalls):
    rng = random.Random(6)
    script = Script(errors={"priv": {0x4030: SLVERR}})
    script.write(Op.PRIV_WRITE, 0x4010, _beats(rng, 3), asid=2)        # its third beat fails
    script.read(Op.PRIV_READ, 0x4000, 4, asid=2)                         # its second: the read too
    TB(**STALLS[stalls], seed=3, errors=script.errors).check(script)


@pytest.mark.parametrize("stalls", STALLS)
def test_bad_beat_counts_are_answered_slverr_without_a_bus_request(stalls):
    # 1..4 beats are a burst; any other byte is refused as it arrives (a write's beats are not
    # sent: the answer comes first). 0x84 and 0x0C look like 4 in their low bits.
    script = Script()
    for op in (Op.HOST_READ, Op.HOST_WRITE, Op.PRIV_READ, Op.PRIV_WRITE, Op.DRAM_READ, Op.DRAM_WRITE):
        for beats in (0, 5, 7, 8, 0x0C, 0x84, 0xFF):
            script.refused(bytes([REQUEST, op]) + (0x1000).to_bytes(6, "little") + bytes([1, beats]), op, SLVERR)
    # The link is still in step, and the bus untouched until now.
    script.read(Op.HOST_READ, 0x1000, 2, asid=1)
    TB(**STALLS[stalls], seed=4).check(script)


@pytest.mark.parametrize("stalls", STALLS)
def test_an_unknown_op_between_requests_is_answered_and_the_next_request_runs(stalls):
    rng = random.Random(7)
    unknown = [0x00, 0x06, 0x7F, 0x80, 0x87, 0xA5, 0xFF]
    script = Script()
    for k, op in enumerate(unknown):
        script.write(Op.HOST_WRITE, 0x800 + 0x40 * k, _beats(rng, 2), asid=1)
        script.refused(bytes([REQUEST, op]), op, UNKNOWN_OP)
        script.read(Op.HOST_READ, 0x800 + 0x40 * k, 2, asid=1)
        script.refused(bytes([REQUEST, op]), op, UNKNOWN_OP)
        script.register_read(Op.SECURE_READ, k)
    TB(**STALLS[stalls], seed=5).check(script)


@pytest.mark.parametrize("stalls", STALLS)
def test_register_ops_reach_their_own_bus_once_each(stalls):
    script = Script()
    script.register_read(Op.SECURE_READ, 0x7F)
    script.register_write(Op.SECURE_WRITE, 0x05, 0xDEADBEEF)
    script.register_read(Op.MAINT_READ, 0x05)                   # the other bus: not the word written
    script.register_write(Op.MAINT_WRITE, 0x0F, 0x01234567)
    script.register_read(Op.SECURE_READ, 0x05)
    script.register_read(Op.MAINT_READ, 0x0F)
    script.register_write(Op.SECURE_WRITE, 0x05, 0x80000001)
    script.register_read(Op.SECURE_READ, 0x05)
    TB(**STALLS[stalls], seed=6).check(script)


@pytest.mark.parametrize("stalls", STALLS)
def test_cycles_counts_the_clock_between_its_request_and_its_answer(stalls):
    frame = bytes([REQUEST, Op.CYCLES])
    tb = TB(**STALLS[stalls], seed=7)
    length = 3 + response_length(Op.CYCLES)
    got = tb.run(frame * 3, 3 * length)
    values = []
    for k in range(3):
        answer = got[length * k:length * (k + 1)]
        assert answer[:3] == bytes([RESPONSE, Op.CYCLES, OKAY]), answer.hex()
        values.append(int.from_bytes(answer[3:], "little"))
        # Cycles since reset: counted from the simulation's first cycle, as the TB's are.
        sent, answered = tb.rx_taken[2 * k], tb.tx_taken[length * k]
        assert sent <= values[-1] <= answered, f"CYCLES {values[-1]}, asked at cycle {sent}, answered at {answered}"
    assert values == sorted(set(values)), values


def test_a_reads_status_is_the_worst_of_its_beats():
    # DECERR on the first beat, SLVERR on the third: the answer says DECERR, not the last error.
    script = Script(errors={"host": {0x3000: DECERR, 0x3020: SLVERR}})
    script.read(Op.HOST_READ, 0x3000, 4, asid=1)
    TB(seed=5, errors=script.errors).check(script)
