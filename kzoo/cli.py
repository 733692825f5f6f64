"""The `kzoo` command line: the parser of every subcommand, `kzoo report`, `kzoo list`,
and the error boundary. Each larger subcommand has its module: cli_train.py,
cli_tune.py, cli_lr_find.py, cli_diagnose.py, cli_describe.py, cli_recipes.py,
cli_env.py;
the shared flags are in cli_args.py.

The `--backend` flag sets `KERAS_BACKEND` before keras is imported, so every
subcommand imports keras lazily, inside its handler (the deferred imports
below keep `kzoo --help` keras-free). Defaults and choices of `kzoo train`
come from the keras-free `kzoo.training.config`.

`main` is the one error boundary: a user's or the machine's problem prints one
line naming it and the fix, with an exit code per kind (`kzoo.errors`: 2 usage,
3 data, 4 machine (OSError, MemoryError), 5 run directory, 130 interrupted). Only
kzoo's own error types count as the user's: any other exception, a ValueError from
Keras included, is a bug, shown with its traceback, kept in the run directory's
error.txt, exit 1 (cli_bug.py). `KZOO_DEBUG=1` raises every error as it is.
"""


import argparse
import errno
import os
import sys

from kzoo import __version__
from kzoo.backend import set_backend
from kzoo.cli_args import add_common, hparam
from kzoo.cli_lr_find import add_lr_find_parser
from kzoo.cli_train import add_train_parser, given_flags
from kzoo.cli_tune import add_tune_parser
from kzoo.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    KzooError,
    out_of_memory,
)


def cmd_report(args):
    from kzoo.rundir import check_report_dir

    check_report_dir(args.run_dir)  # before keras loads: a wrong path fails fast
    from kzoo.plots import describe, report

    paths = report(args.run_dir)
    text = describe(args.run_dir)
    if text:
        print(text)
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_list(args):
    from kzoo import datasets, zoo
    from kzoo.cli_describe import brief_hparams

    print("models (kzoo describe MODEL for ranges and the training recipe):")
    for name in zoo.list():
        spec = zoo.get_spec(name)
        print(f"  {name:16s} {spec.kind:9s} {spec.description}")
        print(f"  {'':16s} {'':9s} {brief_hparams(spec)}")
    print("datasets:")
    for name in datasets.list_datasets():
        loader = datasets._base._LOADERS[name]
        print(f"  {name:16s} {getattr(loader, 'description', '')}")
    return 0



def build_parser():
    parser = argparse.ArgumentParser(
        prog="kzoo", description="Keras 3 model zoo: train, search and inspect models."
    )
    parser.add_argument("--version", action="version", version=f"kzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    add_train_parser(sub)
    add_tune_parser(sub)
    add_lr_find_parser(sub, add_common, hparam)
    from kzoo.cli_diagnose import add_diagnose_parser

    add_diagnose_parser(sub)

    p = sub.add_parser("report", help="re-plot a run directory")
    p.add_argument("run_dir")
    add_common(p)
    p.set_defaults(func=cmd_report)

    from kzoo.cli_describe import add_describe_parser
    from kzoo.cli_recipes import add_recipes_parser

    add_describe_parser(sub, add_common)
    add_recipes_parser(sub, add_common)
    from kzoo.cli_env import add_env_parser

    add_env_parser(sub)

    p = sub.add_parser("list", help="list registered models and datasets")
    add_common(p)
    p.set_defaults(func=cmd_list)
    return parser


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
    from kzoo.cli_quiet import quiet_tensorflow_import

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
            from kzoo.cli_bug import report_bug

            return report_bug(args, err, sys.argv[1:] if argv is None else argv)
        message, code = found
        print(f"kzoo {args.command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
