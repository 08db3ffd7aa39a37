"""The ``sevlab`` command line.

Every subcommand validates its arguments itself and reports bad input as one line on stderr with
exit status 2; nothing a user types produces a traceback. See ``README.md``.
"""

import argparse
import os
import sys

__all__ = ["main", "CommandError", "add_serial_arguments", "serial_options"]


class CommandError(Exception):
    """Bad input: printed as ``sevlab <command>: <message>`` and exit status 2."""


def add_serial_arguments(parser):
    """``--port``, ``--board`` and ``--baud``: where ``--backend serial`` finds its board."""
    from ..rtl.boards import BOARDS
    group = parser.add_argument_group("with --backend serial (a board over its UART; docs/fpga.md)")
    group.add_argument("--port", help="the board's serial device (e.g. /dev/ttyUSB0), any pyserial URL "
                       "(socket://host:port), or 'sim': the board's bridged system in Amaranth's simulator")
    group.add_argument("--board", default="ulx3s-85f", help=f"one of {', '.join(BOARDS)} (default %(default)s)")
    group.add_argument("--baud", type=int, default=1_000_000, help="the link's rate (default %(default)s)")


def serial_options(args):
    """The ``make_machine`` options :func:`add_serial_arguments` gave, checked."""
    from ..rtl.boards import BOARDS
    if args.backend != "serial":
        if args.port is not None:
            raise CommandError("--port goes with --backend serial")
        return {}
    if not args.port:
        raise CommandError("--backend serial needs --port: a device such as /dev/ttyUSB0, a pyserial URL, or 'sim'")
    if args.board not in BOARDS:
        raise CommandError(f"--board must be one of {', '.join(BOARDS)}, not {args.board!r}")
    if args.baud <= 0:
        raise CommandError(f"--baud must be positive, not {args.baud}")
    return {"board": args.board, "port": args.port, "baud": args.baud}


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block on an error; the contract here is one line.
    def error(self, message):
        raise CommandError(message)


def _parser():
    from . import attack_command, bench, certs_command, demo, launch_command, xts_command
    parser = _Parser(prog="sevlab", description="An open model of AMD memory encryption "
                     "(SME, TSME, SEV): Amaranth RTL driven by firmware and hypervisor models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (demo, launch_command, attack_command, xts_command, bench, certs_command):
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    try:
        from . import synth
    except ImportError:         # the synthesis tool needs nothing at import; keep the CLI alive
        synth = None
    if synth is not None and hasattr(synth, "add_arguments"):
        sub = commands.add_parser("synth", help="synthesize blocks for ECP5 / iCE40 and report "
                                  "area and Fmax (needs pip install -e '.[synth]')")
        synth.add_arguments(sub)
        sub.set_defaults(run=synth.run)
    return parser


def main(argv=None):
    try:
        args = _parser().parse_args(argv)
        status = args.run(args)
    except CommandError as error:
        print(f"sevlab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``sevlab demo | head``): stop quietly, as Unix tools do, and keep
        # the interpreter from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0 if status is None else status


if __name__ == "__main__":
    sys.exit(main())
