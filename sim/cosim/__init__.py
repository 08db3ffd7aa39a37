"""The cocotb side of sevlab: export an Amaranth design to Verilog outside the source tree, run a
cocotb test module on it under Icarus or Verilator with the settings that flow needs (one helper,
`run_cocotb`), and drive and check Amaranth streams from cocotb through their ``data.Layout``.
See ``sim/cosim/README.md``.
"""

__all__ = [
    "PARAMS_ENV",
    "SIMULATORS",
    "TB",
    "CocotbBuildError",
    "CocotbFailure",
    "CocotbResult",
    "ExportedVerilog",
    "Scoreboard",
    "SimulatorNotFound",
    "StreamDriver",
    "StreamMonitor",
    "describe_stall_pattern",
    "export_verilog",
    "port_layout",
    "require_simulator",
    "run_cocotb",
    "simulator_environment",
    "stall_pattern",
    "testbench_params",
]

from .export import ExportedVerilog, export_verilog
from .runner import (
    PARAMS_ENV,
    SIMULATORS,
    CocotbBuildError,
    CocotbFailure,
    CocotbResult,
    SimulatorNotFound,
    require_simulator,
    run_cocotb,
    simulator_environment,
    testbench_params,
)
from .streams import (
    TB,
    Scoreboard,
    StreamDriver,
    StreamMonitor,
    describe_stall_pattern,
    port_layout,
    stall_pattern,
)
