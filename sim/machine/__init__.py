"""The machine API and its backends. See ``sim/README.md`` ("The machine API").

>>> from sevlab.sim.machine import run, MachineConfig
>>> async def scenario(machine):
...     return await machine.read_line(0x1000)
>>> result, machine = run(scenario, backend="model")
>>> result == bytes(64)
True
"""

from .api import ALL_STROBES, BusError, Machine, MachineConfig, Read, Write
from .drivers import CacheDriver, KeySlotDriver, KeySlotError, SystemDriver, UnitDriver

__all__ = ["ALL_STROBES", "BACKENDS", "BusError", "CacheDriver", "KeySlotDriver", "KeySlotError",
           "Machine", "MachineConfig", "Read", "SystemDriver", "UnitDriver", "Write", "make_machine",
           "run"]

#: Backends by name, in the order the command line lists them.
BACKENDS = ("model", "amaranth", "icarus", "verilator", "serial")


def make_machine(backend="amaranth", config=None, **options):
    """A machine on ``backend``; ``options`` go to the backend.

    ``amaranth`` takes ``stall``, ``seed`` and ``vcd``; ``icarus`` and ``verilator`` take
    ``build_dir``, ``quiet`` and ``timeout_seconds``; ``serial`` takes ``board``, ``port`` and
    ``baud`` and its config is the board's (``serial.open_board``).
    """
    if backend == "serial":
        from .serial import board_config, open_board
        if config is not None and config != board_config(options["board"]):
            raise ValueError("a board's machine has the board's config")
        return open_board(**options)
    config = config or MachineConfig()
    if backend == "model":
        from .model import ModelMachine
        return ModelMachine(config, **options)
    if backend == "amaranth":
        from .amaranth import AmaranthMachine
        return AmaranthMachine(config, **options)
    if backend in ("icarus", "verilator"):
        from ..cosim.machine import CocotbMachine
        return CocotbMachine(config, simulator=backend, **options)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


def run(scenario, backend="amaranth", config=None, **options):
    """Run ``async def scenario(machine)`` on a new machine; return ``(result, machine)``."""
    machine = make_machine(backend, config, **options)
    return machine.run(scenario), machine
