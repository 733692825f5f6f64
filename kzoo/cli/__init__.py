"""The `kzoo` command line: `main` (the error boundary) and the parser. Each subcommand
is one module of this package with the same `add_parser(subparsers)`: train.py,
tune.py, combine.py, lr_find.py, diagnose.py, report.py, describe.py, recipes.py, env.py,
listing.py (`kzoo list`); the shared argument types and flags are in args.py, a
crash's report in bug.py, tensorflow's start-up lines kept out in quiet.py.

The `--backend` flag sets `KERAS_BACKEND` before keras is imported, so every
subcommand imports keras lazily, inside its handler (the deferred imports
below keep `kzoo --help` keras-free). Defaults and choices of `kzoo train`
come from the keras-free `kzoo.training.config`.

`main` is the one error boundary: a user's or the machine's problem prints one
line naming it and the fix, with an exit code per kind (`kzoo.runtime.errors`: 2 usage,
3 data, 4 machine (OSError, MemoryError), 5 run directory, 130 interrupted). Only
kzoo's own error types count as the user's: any other exception, a ValueError from
Keras included, is a bug, shown with its traceback, kept in the run directory's
error.txt, exit 1 (bug.py). `KZOO_DEBUG=1` raises every error as it is.
"""


import argparse
import errno
import importlib
import os
import sys

from kzoo import __version__
from kzoo.runtime.backend import set_backend
from kzoo.runtime.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    KzooError,
    out_of_memory,
)

# The subcommands in the order `kzoo --help` lists them: module names of this package
# (imported by name: a module `list` would shadow the builtin in this namespace).
SUBCOMMANDS = ("train", "tune", "combine", "lr_find", "diagnose", "report", "describe",
               "recipes", "env", "listing")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kzoo", description="Keras 3 model zoo: train, search and inspect models."
    )
    parser.add_argument("--version", action="version", version=f"kzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"kzoo.cli.{name}").add_parser(sub)
    return parser


def given_flags(argv, command):
    """The `dest`s of the options `argv` sets explicitly for subcommand `command`
    (a parse with every default suppressed), so `--resume` can refuse the ones
    that would change the run instead of ignoring them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command", "func"}


def _one_line(err):
    """`(message, exit code)` for an error a user or the machine caused, else None."""
    if isinstance(err, KzooError):
        return str(err), err.exit_code
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        fixes = {
            errno.ENOSPC: "free disk space (or choose another --out), then run again",
            errno.EDQUOT: "free disk space (or choose another --out), then run again",
            errno.EACCES: "choose a directory you may write, or fix its permissions",
            errno.EPERM: "choose a directory you may write, or fix its permissions",
            errno.EROFS: "the filesystem is read-only; choose another --out",
            errno.ENOTDIR: "a path component is a file; choose another path",
            errno.EISDIR: "the path is a directory; give a file",
            errno.ENOENT: "check the path",
        }
        fix = fixes.get(err.errno, "check the path and the disk")
        return f"{err.strerror or err}{where}: {fix}.", EXIT_ENVIRONMENT
    # Out of memory from any backend (MemoryError, RESOURCE_EXHAUSTED, CUDA OOM) is the
    # machine's limit, not a bug: the fix is a smaller batch, length or model.
    oom = out_of_memory(err)
    if oom is not None:
        return oom, EXIT_ENVIRONMENT
    # Anything else, a ValueError or RuntimeError from Keras or a backend included, is a
    # bug: kzoo checks settings, data and files itself and raises its own types.
    return None


def _interrupted_hint(args):
    """Where an interrupted command continues: a train run that was written resumes."""
    from kzoo.rundir import run_kind

    run = getattr(args, "resume", None) or getattr(args, "out", None)
    if args.command == "train" and run:
        try:
            written = run_kind(run) == "train"
        except KzooError:
            written = False
        if written:
            return f"continue it with: kzoo train --resume {run}"
    if args.command == "tune" and run:
        return "run the same kzoo tune command again to resume the search"
    return "nothing was kept; run the command again"


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.resume:
        args.given = given_flags(sys.argv[1:] if argv is None else argv, "train")
    debug = os.environ.get("KZOO_DEBUG", "") not in ("", "0")
    # Before anything imports tensorflow (keras or keras_tuner do when it is installed,
    # whatever the backend): keeps its C++ start-up lines out of kzoo's output.
    from kzoo.cli.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    try:
        if args.backend is not None:  # None: `kzoo env`, which probes backends in subprocesses
            set_backend(args.backend)
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\nkzoo {args.command}: interrupted; {_interrupted_hint(args)}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if debug:
            raise
        found = _one_line(err)
        if found is None:
            from kzoo.cli.bug import report_bug

            return report_bug(args, err, sys.argv[1:] if argv is None else argv)
        message, code = found
        print(f"kzoo {args.command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
