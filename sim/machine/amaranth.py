"""The ``amaranth`` backend: the unit's RTL in Amaranth's simulator, cycle by cycle.

One testbench drives every port of the unit each cycle: the host and privileged AXI managers,
a DRAM model with a fixed read latency behind the DRAM port, and the CSR bus. The scenario runs
as a second testbench and waits on the first. See ``sim/README.md`` ("The machine API").
"""

import random
import types
from collections import deque

from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.sim import Simulator

from ...rtl.memsys import MemorySystem
from .api import BusError, Machine, Read, check_op
from .dram import SparseDRAM

__all__ = ["AmaranthMachine"]

_SLVERR = 2
_PERIOD = 1e-8                      # the clock: 100 MHz (only cycles are ever reported)


class _Pending:
    """One operation on its way through a port."""

    __slots__ = ("op", "id", "beats", "result", "done", "error", "issued", "first_data", "done_at")

    def __init__(self, op, ident):
        self.op = op
        self.id = ident
        self.beats = []
        self.result = None
        self.done = False
        self.error = False
        # Cycle numbers, for benchmarks: the address handshake, the first R beat, the last
        # R beat or the B response.
        self.issued = self.first_data = self.done_at = None


class _Manager:
    """The BFM of one AXI manager port (host or privileged)."""

    def __init__(self, bus, id_width):
        self.bus = bus
        self.ar = deque()           # reads waiting for the AR channel
        self.aw = deque()           # writes waiting for the AW channel
        self.w = deque()            # (pending, beat index) for the W channel, in AW order
        self.reads = {}             # id -> deque of reads in flight, in issue order
        self.writes = {}            # id -> deque of writes in flight
        self._next_id = 0
        self._ids = 1 << id_width

    def submit(self, op):
        pending = _Pending(op, self._next_id)
        self._next_id = (self._next_id + 1) % self._ids
        if isinstance(op, Read):
            self.ar.append(pending)
        else:
            self.aw.append(pending)
            self.w.extend((pending, n) for n in range(op.beats))
        return pending


def _resolved(bus, names):
    """The signals ``names`` of an interface as plain attributes: the testbench touches them
    every cycle, and looking them up through the interface costs more than the rest of it."""
    return types.SimpleNamespace(**{name: getattr(bus, name) for name in names})


_MANAGER_SIGNALS = ("arvalid", "arid", "araddr", "arlen", "arsize", "arburst", "aruser", "awvalid", "awid",
                    "awaddr", "awlen", "awsize", "awburst", "awuser", "wvalid", "wdata", "wstrb", "wlast",
                    "rready", "bready", "arready", "awready", "wready", "bvalid", "bid", "bresp", "rvalid",
                    "rid", "rdata", "rresp", "rlast")
_DRAM_SIGNALS = ("arvalid", "araddr", "awvalid", "awaddr", "wvalid", "wdata", "wstrb", "wlast", "bready",
                 "rready", "arready", "awready", "wready", "rvalid", "rdata", "rresp", "rlast", "rid",
                 "bvalid", "bresp", "bid")


class _RegisterBus:
    """The BFM of one register bus (secure port or maintenance bus): one access at a time,
    read data the cycle after the strobe."""

    def __init__(self, bus):
        self.bus = _resolved(bus, ("w_stb", "r_stb", "addr", "w_data", "r_data"))
        self.ops = deque()
        self._read_due = None
        self._offered = None

    def offer(self, show):
        op = self.ops[0] if self.ops and self._read_due is None else None
        self._offered = op
        show(self.bus.w_stb, op is not None and op["request"][0] == "write")
        show(self.bus.r_stb, op is not None and op["request"][0] == "read")
        if op is not None:
            show(self.bus.addr, op["request"][1])
            show(self.bus.w_data, op["request"][2])

    def observe(self, r_data):
        """After the clock edge: ``r_data`` as sampled. Returns whether an access completed."""
        op = self._offered
        if self._read_due is not None:
            self._read_due["value"] = r_data
            self._read_due["done"] = True
            self.ops.popleft()
            self._read_due = None
            return True
        if op is not None:
            if op["request"][0] == "read":
                self._read_due = op
            else:
                op["done"] = True
                self.ops.popleft()
                return True
        return False


class _Harness(Elaboratable):
    """The design under test plus ``probe``: every signal the bus process reads, concatenated.

    Amaranth's simulator reads a sampled value through a general expression evaluator, which for
    the thirty-odd port signals cost a quarter of a cycle's simulation; the concatenation is
    compiled with the design, so the process samples one signal and splits it with shifts
    (``fields``: ``(shift, mask)`` per signal, in order)."""

    def __init__(self, dut, observed):
        self.dut = dut
        self.probe = Signal(sum(len(signal) for signal in observed))
        # Toggled by the bus process whenever an operation completes: the scenario sleeps on it
        # instead of waking every cycle.
        self.wake = Signal()
        self.fields, shift = [], 0
        for signal in observed:
            self.fields.append((shift, (1 << len(signal)) - 1))
            shift += len(signal)
        self._observed = observed

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.comb += self.probe.eq(Cat(*self._observed))
        return m


class AmaranthMachine(Machine):
    """The machine API on :class:`~sevlab.rtl.memsys.MemorySystem` in Amaranth's simulator.

    Parameters
    ----------
    config : MachineConfig
    stall : float
        Probability, per cycle and channel, that the testbench holds a valid or a ready low
        (host and DRAM side both), to exercise back-pressure. 0 gives the unit's best case.
    seed : int
        Seed of the stall pattern.
    vcd : str or None
        Write a waveform of the whole run to this file (slow: every signal and memory).
    wait_limit : int
        Cycles one wait (for operations or a register access) may take before the run is
        declared hung: ``TimeoutError``.
    """

    def __init__(self, config, *, stall=0.0, seed=0, vcd=None, wait_limit=100_000):
        self.config = config
        self.dut = MemorySystem(
            cache_bytes=config.cache_bytes, cache_ways=config.cache_ways, unit=config.unit,
            key_bits=config.key_bits, slots=config.slots, engine=config.engine,
            address_width=config.address_width, cbit_position=config.cbit_position,
            min_sev_asid=config.min_sev_asid)
        self.dram = SparseDRAM()
        self._stall = stall
        self._rng = random.Random(seed)
        self._vcd = vcd
        self._wait_limit = wait_limit
        self._cycle = 0
        self._scenario_ctx = None
        self._finished = False
        self._managers = {"host": _Manager(self.dut.host, self.dut.id_width),
                          "priv": _Manager(self.dut.priv, self.dut.id_width)}
        self._register_buses = {"csr": _RegisterBus(self.dut.csr), "maint": _RegisterBus(self.dut.maint)}
        self._harness = _Harness(self.dut, self._observed())
        self.stats = {"dram_reads": 0, "dram_writes": 0}

    @property
    def cycles(self):
        return self._cycle

    def run(self, scenario):
        """Run ``async def scenario(machine)`` in the simulator and return its result."""
        outcome = {}

        async def scenario_testbench(ctx):
            self._scenario_ctx = ctx
            try:
                outcome["value"] = await scenario(self)
            except BaseException as error:      # re-raised outside the simulator
                outcome["error"] = error
            finally:
                self._finished = True

        sim = Simulator(self._harness)
        sim.add_clock(_PERIOD)
        # A process, not a testbench: its signal changes take effect together at the next delta
        # cycle, where a testbench's ctx.set() settles the whole design once per call.
        sim.add_process(self._bus_testbench)
        sim.add_testbench(scenario_testbench)
        if self._vcd:
            with sim.write_vcd(self._vcd):
                sim.run()
        else:
            sim.run()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    # The machine API ------------------------------------------------------------------------
    def start(self, ops):
        for op in ops:
            check_op(op, self.config.address_width, self.config.asid_limit)
        return [self._managers[op.port].submit(op) for op in ops]

    async def wait(self, handle):
        await self._until(lambda: all(p.done for p in handle),
                          lambda: ", ".join(str(p.op) for p in handle if not p.done))
        return [BusError(p.op) if p.error else p.result for p in handle]

    async def _until(self, done, describe):
        deadline = self._cycle + self._wait_limit
        while not done():
            if self._cycle >= deadline:
                raise TimeoutError(f"cycle {self._cycle}: still waiting after {self._wait_limit} "
                                   f"cycles for {describe()}")
            await self._scenario_ctx.changed(self._harness.wake).delay(self._wait_limit * _PERIOD)

    async def csr_read(self, address):
        return await self._register_access("csr", ("read", address, 0))

    async def csr_write(self, address, value):
        await self._register_access("csr", ("write", address, value))

    async def maint_read(self, address):
        return await self._register_access("maint", ("read", address, 0))

    async def maint_write(self, address, value):
        await self._register_access("maint", ("write", address, value))

    async def _register_access(self, bus, request):
        # Every access, writes too, is waited for: a register write must take effect before the
        # bus traffic the caller issues next (posting writes broke that ordering).
        slot = {"request": request, "done": False, "value": None}
        self._register_buses[bus].ops.append(slot)
        await self._until(lambda: slot["done"], lambda: f"{bus} {request[0]} of word {request[1]:#x}")
        return slot["value"]

    async def dram_read(self, address, length):
        return self.dram.read(address, length)

    async def dram_write(self, address, data):
        self.dram.write(address, data)

    async def peek(self, value):
        """The current value of any signal or memory row of the design.

        A white-box hook for tests (a wiped key slot must hold zeros): not part of the machine
        API, and the other backends do not have it.
        """
        return self._scenario_ctx.get(value)

    async def tick(self, cycles=1):
        for _ in range(cycles):
            await self._scenario_ctx.tick()

    # The testbench that drives every port -----------------------------------------------------
    def _observed(self):
        """What the bus process reads after every clock edge, in the order it reads them."""
        observed = [bus.bus.r_data for bus in self._register_buses.values()]
        for manager in self._managers.values():
            bus = manager.bus
            observed += [bus.arready, bus.awready, bus.wready, bus.bvalid, bus.bid, bus.bresp,
                         bus.rvalid, bus.rid, bus.rdata, bus.rresp, bus.rlast]
        dram = self.dut.dram
        return observed + [dram.arvalid, dram.araddr, dram.awvalid, dram.awaddr, dram.wvalid, dram.wdata,
                           dram.wstrb, dram.wlast, dram.bready, dram.rready]

    def _stalled(self):
        return self._stall and self._rng.random() < self._stall

    async def _bus_testbench(self, ctx):
        dram = _resolved(self.dut.dram, _DRAM_SIGNALS)
        latency = self.config.memory_latency
        managers = list(self._managers.values())
        dram_reads = deque()        # [first beat cycle, address, beats sent]
        dram_writes = deque()       # addresses whose W beats are due, in AW order
        dram_b = deque()            # cycle each write response is due
        w_beat = 0
        register_buses = list(self._register_buses.values())
        shown = {}

        def show(signal, value):
            # Setting a signal costs a simulator call: only changes are sent.
            key = id(signal)        # Amaranth values are not hashable
            if shown.get(key) != value:
                shown[key] = value
                ctx.set(signal, value)

        manager_buses = [_resolved(manager.bus, _MANAGER_SIGNALS) for manager in managers]
        fields = self._harness.fields
        # One trigger for the whole run: building a new one every cycle costs more than the
        # testbench's own work.
        ticks = ctx.tick().sample(self._harness.probe).__aiter__()
        wake = 0

        while not (self._finished and not any(bus.ops for bus in register_buses)):
            cycle = self._cycle
            # Managers: offer the next AR, AW and W; always ready for R and B unless stalling.
            offers = []
            for manager, bus in zip(managers, manager_buses):
                ar = manager.ar[0] if manager.ar and not self._stalled() else None
                aw = manager.aw[0] if manager.aw and not self._stalled() else None
                w = manager.w[0] if manager.w and not self._stalled() else None
                show(bus.arvalid, ar is not None)
                if ar is not None:
                    op = ar.op
                    show(bus.arid, ar.id)
                    show(bus.araddr, op.address)
                    show(bus.arlen, op.beats - 1)
                    show(bus.arsize, 4)
                    show(bus.arburst, 1)
                    show(bus.aruser, op.asid)
                show(bus.awvalid, aw is not None)
                if aw is not None:
                    op = aw.op
                    show(bus.awid, aw.id)
                    show(bus.awaddr, op.address)
                    show(bus.awlen, op.beats - 1)
                    show(bus.awsize, 4)
                    show(bus.awburst, 1)
                    show(bus.awuser, op.asid)
                show(bus.wvalid, w is not None)
                if w is not None:
                    pending, n = w
                    show(bus.wdata, int.from_bytes(pending.op.data[16 * n:16 * n + 16], "little"))
                    show(bus.wstrb, (pending.op.strobes >> (16 * n)) & 0xFFFF)
                    show(bus.wlast, n == pending.op.beats - 1)
                rready = not self._stalled()
                bready = not self._stalled()
                show(bus.rready, rready)
                show(bus.bready, bready)
                offers.append((ar, aw, w, rready, bready))

            # DRAM: ready for requests unless stalling; R beats after the fixed latency.
            arready = not self._stalled()
            awready = not self._stalled()
            # A slave may wait for the address before taking data (AXI4 A3.3.1); this one does.
            wready = bool(dram_writes) and not self._stalled()
            show(dram.arready, arready)
            show(dram.awready, awready)
            show(dram.wready, wready)
            r_offer = None
            if dram_reads and dram_reads[0][0] <= cycle and not self._stalled():
                due, address, sent = dram_reads[0]
                r_offer = dram_reads[0]
                show(dram.rvalid, 1)
                show(dram.rdata, int.from_bytes(self.dram.read(address + 16 * sent, 16), "little"))
                show(dram.rresp, 0)
                show(dram.rlast, sent == 3)
                show(dram.rid, 0)
            else:
                show(dram.rvalid, 0)
            b_offer = bool(dram_b) and dram_b[0] <= cycle
            show(dram.bvalid, b_offer)
            if b_offer:
                show(dram.bresp, 0)
                show(dram.bid, 0)

            for bus in register_buses:
                bus.offer(show)

            _, _, word = await ticks.__anext__()
            values = iter([(word >> shift) & mask for shift, mask in fields])
            self._cycle += 1

            completed = False
            for bus in register_buses:
                completed |= bus.observe(next(values))

            for manager, (ar, aw, w, rready, bready) in zip(managers, offers):
                (arready_m, awready_m, wready_m, bvalid, bid, bresp,
                 rvalid, rid, rdata, rresp, rlast) = (next(values) for _ in range(11))
                if ar is not None and arready_m:
                    ar.issued = cycle
                    manager.ar.popleft()
                    manager.reads.setdefault(ar.id, deque()).append(ar)
                if aw is not None and awready_m:
                    aw.issued = cycle
                    manager.aw.popleft()
                    manager.writes.setdefault(aw.id, deque()).append(aw)
                if w is not None and wready_m:
                    manager.w.popleft()
                if rvalid and rready:
                    queue = manager.reads.get(rid)
                    if not queue:
                        raise AssertionError(f"cycle {cycle}: R beat for ID {rid} with no read in flight")
                    pending = queue[0]
                    if not pending.beats:
                        pending.first_data = cycle
                    pending.beats.append(int(rdata).to_bytes(16, "little"))
                    pending.error |= rresp == _SLVERR
                    expected_last = len(pending.beats) == pending.op.beats
                    if bool(rlast) != expected_last:
                        raise AssertionError(f"cycle {cycle}: RLAST {rlast} on beat {len(pending.beats)} "
                                             f"of {pending.op}")
                    if expected_last:
                        pending.done_at = cycle
                        queue.popleft()
                        pending.result = b"".join(pending.beats)
                        pending.done = completed = True
                if bvalid and bready:
                    queue = manager.writes.get(bid)
                    if not queue:
                        raise AssertionError(f"cycle {cycle}: B for ID {bid} with no write in flight")
                    pending = queue.popleft()
                    if pending in [p for p, _ in manager.w]:
                        raise AssertionError(f"cycle {cycle}: B for {pending.op} before its last W beat")
                    pending.error = bresp == _SLVERR
                    pending.done_at = cycle
                    pending.done = completed = True

            (d_arvalid, d_araddr, d_awvalid, d_awaddr, d_wvalid, d_wdata, d_wstrb, d_wlast,
             d_bready, d_rready) = values
            if d_arvalid and arready:
                if d_araddr % 64:
                    raise AssertionError(f"cycle {cycle}: DRAM read of {d_araddr:#x} is not a whole line")
                dram_reads.append([cycle + latency, d_araddr, 0])
                self.stats["dram_reads"] += 1
            if r_offer is not None and d_rready:
                r_offer[2] += 1
                if r_offer[2] == 4:
                    dram_reads.popleft()
            if d_awvalid and awready:
                dram_writes.append(d_awaddr)
                self.stats["dram_writes"] += 1
            if d_wvalid and wready:
                address = dram_writes[0] + 16 * w_beat
                self.dram.write_strobed(address, int(d_wdata).to_bytes(16, "little"), d_wstrb)
                w_beat += 1
                if bool(d_wlast) != (w_beat == 4):
                    raise AssertionError(f"cycle {cycle}: DRAM WLAST on beat {w_beat}")
                if w_beat == 4:
                    dram_writes.popleft()
                    w_beat = 0
                    dram_b.append(cycle + 1)
            if b_offer and d_bready:
                dram_b.popleft()
            if completed:
                wake ^= 1
                ctx.set(self._harness.wake, wake)
