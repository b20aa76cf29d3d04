"""The `byol3d` command and the one top-level error handler of every byol3d command line.

    byol3d pretrain | probe | data {synthrooms,generate,preprocess} | report | export | view  [options]

`byol3d <command> ARGS` runs the same `main(ARGS)` as the module forms (`python -m byol3d.pretrain
ARGS`, ...), which keep working; `python -m byol3d` is this same command (`main` below, also the console
script of pyproject.toml).

A user error (a bad config, a bad data file, a wrong checkpoint or run folder, a missing input or optional
tool, a full disk) is printed as one line, `error: <file>: <reason>`, and the command exits with status 2.
Anything else is a bug in byol3d and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from byol3d.config import PROFILES, ConfigError
from byol3d.data.errors import DataError
from byol3d.train.checkpoint import CheckpointError
from byol3d.train.finite import NonFiniteError
from byol3d.utils.atomic import DiskFullError
from byol3d.utils.optional import NotAvailable

USER_ERRORS = (ConfigError, DataError, CheckpointError, NonFiniteError, DiskFullError,
               NotAvailable, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
USAGE_ERROR = 2  # the exit status of argparse for a bad command line, and ours for bad input

PROG = "byol3d"
Command = Callable[[list[str]], object]  # a command's main(argv)


# Each command imports its module only when it runs, so `byol3d --help` loads nothing it does not show.
def _pretrain(argv: list[str]) -> object:
    from byol3d.pretrain import main
    return main(argv)


def _probe(argv: list[str]) -> object:
    from byol3d.probe import main
    return main(argv)


def _report(argv: list[str]) -> object:
    from byol3d.report.build import main
    return main(argv)


def _export(argv: list[str]) -> object:
    from byol3d.viz.export import export_main
    return export_main(argv)


def _view(argv: list[str]) -> object:
    from byol3d.viz.export import view_main
    return view_main(argv)


def _synthrooms(argv: list[str]) -> object:
    from byol3d.data.default import main
    return main(argv)


def _generate(argv: list[str]) -> object:
    from byol3d.data.synthrooms.__main__ import main
    return main(argv)


def _preprocess(argv: list[str]) -> object:
    from byol3d.data.preprocess import main
    return main(argv)


def run_cli(main: Callable[[], object]) -> int:
    """Run `main()`; a user error prints its message and returns USAGE_ERROR, an int result is the exit
    status, anything else means success (0)."""
    try:
        result = main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    return result if isinstance(result, int) else 0


def _presets() -> str:
    """The preset lines of `byol3d --help`, from the code (pretrain, probe and report share one list)."""
    return (f"presets: {', '.join(PROFILES)} (pretrain / probe --config, report --profile);\n"
            "pretrain and probe also take a YAML config file as --config.\n\n")


def _parser(prog: str, commands: dict[str, tuple[Command, str]], description: str,
            epilog: str) -> argparse.ArgumentParser:
    width = max(map(len, commands))
    listing = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in commands.items())
    return argparse.ArgumentParser(
        prog=prog, usage=f"{prog} <command> [options]", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"commands:\n{listing}\n\n{epilog}`{prog} <command> --help` lists the options of a command.")


def dispatch(prog: str, commands: dict[str, tuple[Command, str]], argv: list[str], description: str,
             epilog: str = "") -> int:
    """Run `commands[argv[0]]` on argv[1:] under run_cli; help for no command or -h, exit 2 for an unknown one."""
    parser = _parser(prog, commands, description, epilog)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help(sys.stdout if argv else sys.stderr)
        return 0 if argv else USAGE_ERROR
    name, rest = argv[0], argv[1:]
    if name not in commands:
        parser.error(f"unknown command {name!r}; choose from: {', '.join(commands)}")
    target = commands[name][0]
    saved, sys.argv = sys.argv, [f"{prog} {name}", *rest]  # the command's parser names itself after argv[0]
    try:
        return run_cli(lambda: target(rest))
    finally:
        sys.argv = saved


DATA_COMMANDS: dict[str, tuple[Command, str]] = {
    "synthrooms": (_synthrooms, "generate and preprocess the default SynthRooms data, once"),
    "generate": (_generate, "generate SynthRooms rooms in ScanNet's raw layout"),
    "preprocess": (_preprocess, "raw ScanNet (or SynthRooms) -> the preprocessed cache"),
}


def data_main(argv: list[str] | None = None) -> int:
    """`byol3d data <synthrooms|generate|preprocess> ...`."""
    return dispatch(f"{PROG} data", DATA_COMMANDS, sys.argv[1:] if argv is None else argv,
                    description="Make the data: SynthRooms (generated) or your ScanNet copy, preprocessed.")


COMMANDS: dict[str, tuple[Command, str]] = {
    "pretrain": (_pretrain, "BYOL pre-training of PointNeXt (resumable; also under torchrun)"),
    "probe": (_probe, "segmentation probe, fine-tuning or a floor, scored on the validation scenes"),
    "data": (data_main, "the data: synthrooms (the default set) | generate | preprocess"),
    "report": (_report, "run the course notebooks and render the offline HTML report"),
    "export": (_export, "a scene, its ground truth and a prediction as coloured .ply files"),
    "view": (_view, "a scene, a prediction or .ply files in open3d's desktop viewer"),
}


def main(argv: list[str] | None = None) -> int:
    """The `byol3d` command (console script and `python -m byol3d`): the exit status."""
    return dispatch(PROG, COMMANDS, sys.argv[1:] if argv is None else argv, epilog=_presets(),
                    description="BYOL self-supervised pre-training of PointNeXt on ScanNet-format point clouds "
                                "(`python -m byol3d` is the same command).")
