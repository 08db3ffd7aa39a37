"""The ``icarus`` and ``verilator`` backends of the machine API: the memory system's Verilog under cocotb.

The scenario runs in this process, unchanged; the simulator runs in cocotb's process as a
server. Each machine call is one message over a local socket: the cocotb test
``machine_server`` carries it out with cocotbext-axi's ``AxiMaster`` on the host and privileged
ports, ``AxiRam`` on the DRAM port and a small driver on the register buses (the secure port and
the cache-maintenance bus), and answers. Simulated
time stands still between calls, as it does on the Amaranth backend. See ``sim/cosim/README.md``.
"""

# `machine_server` is a cocotb test and stays out of __all__ (see sim/cosim/aes.py).
__all__ = ["CocotbMachine", "SystemTestbench", "start_system", "strobe_runs", "system_from_params"]

import contextlib
import os
import pathlib
import secrets
import sys
import threading
import time
from multiprocessing.connection import Client, Listener

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ..machine.api import BusError, Machine, Read, check_op
from .export import export_verilog
from .runner import default_build_dir, output_to, run_cocotb, testbench_params

_OKAY = 0


def system_from_params(params):
    """The memory system a machine config describes (as ``testbench_params`` carries it)."""
    from sevlab.rtl.memsys import MemorySystem
    return MemorySystem(
        cache_bytes=params["cache_bytes"], cache_ways=params["cache_ways"],
        key_bits=params["key_bits"], slots=params["slots"], engine=params["engine"],
        address_width=params["address_width"], cbit_position=params["cbit_position"],
        min_sev_asid=params["min_sev_asid"], unit=params["unit"])


def strobe_runs(strobe, length):
    """The contiguous byte ranges ``[start, end)`` of a strobe mask.

    cocotbext-axi's ``AxiMaster.write`` writes one contiguous range per call, so a write with a
    ragged strobe becomes one bus write per range (the bytes that reach memory are the same).
    """
    runs, start = [], None
    for n in range(length + 1):
        on = n < length and strobe >> n & 1
        if on and start is None:
            start = n
        elif not on and start is not None:
            runs.append((start, n))
            start = None
    return runs


class SystemTestbench:
    """The simulator side: cocotbext-axi models on the AXI ports, and the register-bus driver."""

    def __init__(self, dut, address_width):
        from cocotbext.axi import AxiBus, AxiMaster, AxiRam
        self.dut = dut
        self.clock = dut.clk
        self.masters = {port: AxiMaster(AxiBus.from_prefix(dut, port, bus_separator="__"),
                                        dut.clk, dut.rst) for port in ("host", "priv")}
        self.ram = AxiRam(AxiBus.from_prefix(dut, "dram", bus_separator="__"), dut.clk, dut.rst,
                          size=1 << address_width)
        self.cycles = 0
        self.handles = {}
        self._next_handle = 0

    async def count_cycles(self):
        while True:
            await RisingEdge(self.clock)
            self.cycles += 1

    def start(self, ops):
        tasks = []
        for kind, address, beats, asid, port, data, strobe in ops:
            master = self.masters[port]
            if kind == "read":
                tasks.append([cocotb.start_soon(master.read(address, 16 * beats, user=asid))])
            else:
                tasks.append([cocotb.start_soon(master.write(address + low, data[low:high], user=asid))
                              for low, high in strobe_runs(strobe, len(data))])
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = tasks
        return handle

    async def wait(self, handle):
        results = []
        for tasks in self.handles.pop(handle):
            responses = [await task for task in tasks]
            if any(response.resp != _OKAY for response in responses):
                results.append("SLVERR")
            elif len(responses) == 1 and hasattr(responses[0], "data"):
                results.append(bytes(responses[0].data))
            else:
                results.append(None)
        return results

    async def csr_write(self, address, value, bus="csr"):
        """Write a word on a register bus: ``csr`` (the secure port) or ``maint``."""
        dut = self.dut
        getattr(dut, f"{bus}__addr").value = address
        getattr(dut, f"{bus}__w_data").value = value
        getattr(dut, f"{bus}__w_stb").value = 1
        await RisingEdge(self.clock)
        getattr(dut, f"{bus}__w_stb").value = 0

    async def csr_read(self, address, bus="csr"):
        dut = self.dut
        getattr(dut, f"{bus}__addr").value = address
        getattr(dut, f"{bus}__r_stb").value = 1
        await RisingEdge(self.clock)
        getattr(dut, f"{bus}__r_stb").value = 0
        await ReadOnly()
        value = int(getattr(dut, f"{bus}__r_data").value)
        await RisingEdge(self.clock)
        return value


async def start_system(dut, address_width):
    """Clock, reset and the bus models of the system's Verilog; returns its :class:`SystemTestbench`."""
    for bus in ("csr", "maint"):
        getattr(dut, f"{bus}__w_stb").value = 0
        getattr(dut, f"{bus}__r_stb").value = 0
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    testbench = SystemTestbench(dut, address_width)
    cocotb.start_soon(testbench.count_cycles())
    await RisingEdge(dut.clk)
    return testbench


@cocotb.test()
async def machine_server(dut):
    """Serve machine calls from the scenario's process until it says ``finish``.

    Parameters (`testbench_params`): the system's (``cache_bytes``, ``cache_ways``, ``key_bits``,
    ``slots``, ``engine``, ``address_width``, ``cbit_position``, ``min_sev_asid``), ``socket``
    and ``authkey``.
    """
    params = testbench_params()
    server = await start_system(dut, params["address_width"])
    with Listener(params["socket"], authkey=bytes.fromhex(params["authkey"])) as listener:
        with listener.accept() as connection:
            while True:
                # Simulated time stands still while the scenario's process computes.
                call, *arguments = connection.recv()
                if call == "finish":
                    connection.send(None)
                    break
                try:
                    if call == "start":
                        answer = server.start(*arguments)
                    elif call == "wait":
                        answer = await server.wait(*arguments)
                    elif call == "csr_read":
                        answer = await server.csr_read(*arguments)
                    elif call == "csr_write":
                        answer = await server.csr_write(*arguments)
                    elif call == "maint_read":
                        answer = await server.csr_read(*arguments, bus="maint")
                    elif call == "maint_write":
                        answer = await server.csr_write(*arguments, bus="maint")
                    elif call == "dram_read":
                        answer = bytes(server.ram.read(*arguments))
                    elif call == "dram_write":
                        answer = server.ram.write(*arguments)
                    elif call == "tick":
                        await ClockCycles(dut.clk, arguments[0])
                        answer = None
                    elif call == "cycles":
                        answer = server.cycles
                    else:
                        raise ValueError(f"unknown machine call {call!r}")
                except Exception as error:          # reported to the scenario, then fatal here
                    connection.send(("error", f"{type(error).__name__}: {error}"))
                    raise
                connection.send(("ok", answer))


def _socket_address(build_dir):
    """Where the simulator listens: on Linux a name in the abstract socket namespace (no file,
    and no limit from a long build path: a path must fit 108 bytes); elsewhere a file."""
    name = f"sevlab-machine-{os.getpid()}-{secrets.token_hex(8)}"
    if sys.platform.startswith("linux"):
        return "\0" + name
    return str(pathlib.Path(build_dir).resolve() / f"{name}.sock")


class CocotbMachine(Machine):
    """The machine API on the memory system's Verilog, under cocotb on Icarus or Verilator.

    Parameters
    ----------
    config : MachineConfig
    simulator : "icarus" or "verilator"
    build_dir : path-like, optional
        Verilog and simulator builds (cached by the Verilog's digest); a temporary folder by
        default.
    quiet : bool
        Send the build's and simulator's output (and this process's, while the scenario runs) to
        ``<build_dir>/last-run.log``.
    timeout_seconds : float
        Wall-clock bound on the simulation.
    """

    def __init__(self, config, *, simulator, build_dir=None, quiet=False, timeout_seconds=3600):
        self.config = config
        self._simulator = simulator
        self._build_dir = pathlib.Path(build_dir or default_build_dir())
        self._quiet = quiet
        self._timeout = timeout_seconds
        self._connection = None
        self._handles = {}

    # Calls ---------------------------------------------------------------------------------------
    def _call(self, *message):
        try:
            self._connection.send(message)
            status, answer = self._connection.recv()
        except (EOFError, OSError) as error:
            raise RuntimeError(f"the {self._simulator} simulation stopped during {message[0]}: "
                               f"{error or 'connection closed'}") from None
        if status == "error":
            raise RuntimeError(f"{self._simulator}: {message[0]} failed: {answer}")
        return answer

    @property
    def cycles(self):
        return self._call("cycles")

    def start(self, ops):
        for op in ops:
            check_op(op, self.config.address_width, self.config.asid_limit)
        wire = [("read", op.address, op.beats, op.asid, op.port, b"", 0) if isinstance(op, Read) else
                ("write", op.address, op.beats, op.asid, op.port, bytes(op.data), op.strobes)
                for op in ops]
        handle = self._call("start", wire)
        self._handles[handle] = list(ops)
        return handle

    async def wait(self, handle):
        ops = self._handles.pop(handle)
        answers = self._call("wait", handle)
        return [BusError(op) if answer == "SLVERR" else answer for op, answer in zip(ops, answers)]

    async def csr_read(self, address):
        return self._call("csr_read", address)

    async def csr_write(self, address, value):
        self._call("csr_write", address, value)

    async def maint_read(self, address):
        return self._call("maint_read", address)

    async def maint_write(self, address, value):
        self._call("maint_write", address, value)

    async def dram_read(self, address, length):
        return self._call("dram_read", address, length)

    async def dram_write(self, address, data):
        self._call("dram_write", address, bytes(data))

    async def tick(self, cycles=1):
        self._call("tick", cycles)

    # Running a scenario ----------------------------------------------------------------------------
    def run(self, scenario):
        """Build the system, start the simulator and run ``async def scenario(machine)``.

        Raises
        ------
        SimulatorNotFound, CocotbFailure
            From :func:`~sevlab.sim.cosim.runner.run_cocotb`.
        RuntimeError
            The simulator stopped before the scenario finished.
        """
        c = self.config
        params = {"cache_bytes": c.cache_bytes, "cache_ways": c.cache_ways, "key_bits": c.key_bits,
                  "slots": c.slots, "engine": c.engine, "unit": c.unit, "address_width": c.address_width,
                  "cbit_position": c.cbit_position, "min_sev_asid": c.min_sev_asid}
        self._build_dir.mkdir(parents=True, exist_ok=True)
        verilog = export_verilog(system_from_params(params), build_dir=self._build_dir,
                                 name="memsys_" + "_".join(str(value) for value in params.values()))
        socket = _socket_address(self._build_dir)
        authkey = secrets.token_bytes(16)
        outcome = {}

        def simulate():
            try:
                run_cocotb(verilog=verilog, test_module=__name__, testcase="machine_server",
                           simulator=self._simulator, build_dir=self._build_dir,
                           testbench_params={**params, "socket": socket, "authkey": authkey.hex()},
                           timeout_seconds=self._timeout)
            except BaseException as error:          # re-raised in the calling thread
                outcome["error"] = error

        log = self._build_dir / "last-run.log"
        with output_to(log) if self._quiet else contextlib.nullcontext():
            thread = threading.Thread(target=simulate, name=f"{self._simulator}-machine")
            thread.start()
            try:
                self._connection = self._connect(socket, authkey, thread, outcome)
                coroutine = scenario(self)
                try:
                    coroutine.send(None)
                except StopIteration as done:
                    result = done.value
                else:
                    coroutine.close()
                    raise RuntimeError("a scenario awaited something other than the machine")
                self._call_finish()
            finally:
                if self._connection is not None:
                    self._connection.close()
                thread.join()
                if not socket.startswith("\0"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(socket)
        if "error" in outcome:
            raise outcome["error"]
        return result

    def _call_finish(self):
        self._connection.send(("finish",))
        self._connection.recv()

    def _connect(self, socket, authkey, thread, outcome):
        # The simulator opens the socket once it is built and reset (Verilator: minutes).
        while thread.is_alive():
            try:
                return Client(socket, authkey=authkey)
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.05)
        if "error" in outcome:
            raise outcome.pop("error")
        raise RuntimeError(f"the {self._simulator} simulation ended before it took any call")
