"""The `kzoo` command line: `kzoo train`, `kzoo report`, `kzoo list`, ...

The `--backend` flag sets `KERAS_BACKEND` before keras is imported, so every
subcommand imports keras lazily, inside its handler (the deferred imports
below keep `kzoo --help` keras-free). Defaults and choices of `kzoo train`
come from the keras-free `kzoo.training.config`.

`main` is the one error boundary: a user's or the machine's problem prints one
line naming it and the fix, with an exit code per kind (`kzoo.errors`: 2 usage,
3 data, 4 machine (OSError, MemoryError), 5 run directory, 130 interrupted); a
bug (any other exception) keeps its traceback, and `KZOO_DEBUG=1` shows every
traceback.
"""

import argparse
import errno
import json
import os
import pathlib
import sys

from kzoo import __version__
from kzoo.backend import BACKENDS, DEFAULT_BACKEND, set_backend
from kzoo.cli_lr_find import add_lr_find_parser
from kzoo.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    KzooError,
    UsageError,
)
from kzoo.training.config import (
    CLIP_CHOICES,
    COMPILE_CHOICES,
    HEALTH_CHOICES,
    LR_SCALINGS,
    PRECISIONS,
    SCHEDULES,
    SELECTIONS,
    default,
    field_names,
)


def _parse_value(text):
    """`--hp` values: JSON when it parses (numbers, true/false, lists), else the string.

    Text that opens a JSON list or object must parse as one: `[32,64` is a typo,
    not the string "[32,64". Objects are refused: no hyperparameter takes one.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if text[:1] in "[{" and text:
            raise argparse.ArgumentTypeError(
                f"{text!r} opens a JSON list but does not parse ({err.msg}); write a list "
                "like [32,64] (quote it in the shell: --hp 'units=[32,64]')"
            ) from None
        return text
    if isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a JSON object; a hyperparameter takes a number, true/false, a "
            "string or a list"
        )
    return value


def _hparam(text):
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"--hp takes KEY=VALUE, got {text!r}")
    return key.strip(), _parse_value(value.strip())


def _lr(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lr takes a number or 'auto', got {text!r}") from None


def _auto_int(text):
    """`--epochs` / `--batch-size`: a positive integer or 'auto' (the recipe's data rule)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an integer or 'auto', got {text!r}") from None


def _add_common(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND),
        help="Keras backend (default: $KERAS_BACKEND, else %(default)s).",
    )


def _add_model_and_data(parser, hp_help):
    """--model, --data, --hp, --seed and --early-stopping, shared by train and tune."""
    parser.add_argument("--model", default=default("model"), help="a registered model (kzoo list)")
    parser.add_argument("--data", default=default("data"),
                        help="dataset spec, or an .npz/.csv file (kzoo.datasets.load)")
    parser.add_argument(
        "--hp", type=_hparam, action="append", default=[], metavar="KEY=VALUE", help=hp_help
    )
    parser.add_argument("--seed", type=int, default=default("seed"))
    parser.add_argument(
        "--early-stopping", type=int, default=default("early_stopping"), metavar="PATIENCE",
        help="patience in epochs (0: never stop early); default: the family recipe's",
    )


def add_train_arguments(parser):
    """Arguments of `kzoo train` (other subcommands reuse the model/data ones).

    Defaults and choices come from `kzoo.training.config`, the one place they are spelled.
    """
    _add_model_and_data(
        parser, "model hyperparameter, repeatable (e.g. --hp units=128 --hp bidirectional=true)"
    )
    parser.add_argument("--epochs", type=_auto_int, default=default("epochs"),
                        help="maximum epochs, or 'auto' (default): the family recipe's budget")
    parser.add_argument("--batch-size", type=_auto_int, default=default("batch_size"),
                        help="examples per step, or 'auto' (default): min(n/10, the recipe's "
                        "cap), smaller when BatchNorm needs more steps")
    parser.add_argument("--lr", type=_lr, default=default("lr"),
                        help="learning rate, or 'auto' (LR finder); default: the family recipe's")
    parser.add_argument("--optimizer", default=default("optimizer"),
                        help="Keras optimizer name; default: the family recipe's")
    parser.add_argument("--selection", default=default("selection"), choices=SELECTIONS,
                        help="weights kept: lowest val_loss, lowest loss, or last; default: the "
                        "recipe's (lowest training loss on tiny training sets)")
    parser.add_argument("--precision", default=default("precision"), choices=PRECISIONS)
    parser.add_argument("--compile", default=default("compile"), choices=COMPILE_CHOICES,
                        help="compile the train step (jit_compile); auto: Keras' choice on "
                        "jax/tensorflow, on torch only where torch.compile was measured to pay")
    parser.add_argument("--out", default=default("out"),
                        help="run directory to write (default: runs/<model>-<data>-<time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    grad = parser.add_argument_group("gradients")
    grad.add_argument("--grad-log-every", type=int, default=default("grad_log_every"),
                      metavar="N",
                      help="log global and per-layer gradient norms every N steps (0: off)")
    grad.add_argument("--clip", default=default("clip"), choices=CLIP_CHOICES)
    grad.add_argument("--clip-value", type=float, default=default("clip_value"),
                      help="value/norm/global_norm threshold, AGC lambda (default 1.0; AGC 0.01; "
                      "not for autoclip)")
    grad.add_argument("--clip-percentile", type=float, default=default("clip_percentile"),
                      help="AutoClip percentile (default 10; autoclip only)")
    grad.add_argument("--grad-health", default=default("grad_health"), choices=HEALTH_CHOICES,
                      help="vanishing/exploding gradient diagnosis and action")
    lr = parser.add_argument_group("learning rate and checkpoints")
    lr.add_argument("--schedule", default=default("schedule"), choices=SCHEDULES)
    lr.add_argument("--warmup-epochs", type=float, default=default("warmup_epochs"),
                    help="linear LR warmup")
    lr.add_argument("--warmup-steps", type=int, default=default("warmup_steps"),
                    help="linear LR warmup, in steps")
    lr.add_argument("--lr-scaling", default=default("lr_scaling"), choices=LR_SCALINGS,
                    help="scale --lr by batch-size / base-batch-size (or its square root)")
    lr.add_argument("--base-batch-size", type=int, default=default("base_batch_size"))
    lr.add_argument("--checkpoint-every-epochs", type=int,
                    default=default("checkpoint_every_epochs"), metavar="N",
                    help="full-state checkpoint every N epochs into OUT/checkpoints (0: off)")
    lr.add_argument("--checkpoint-every-steps", type=int,
                    default=default("checkpoint_every_steps"), metavar="N",
                    help="also checkpoint every N steps (mid-epoch resume)")
    lr.add_argument("--keep-best", type=int, default=default("keep_best"),
                    help="best checkpoints kept")
    lr.add_argument("--resume", default=None, metavar="DIR",
                    help="continue the killed run in DIR with its own settings")
    _add_common(parser)


# TrainConfig fields the train flags do not carry under their own name: --hp, --quiet,
# --resume DIR (a path, not the bool) and --backend (applied before keras is imported).
NOT_TRAIN_FLAGS = ("hparams", "verbose", "resume", "backend")


def given_flags(argv, command):
    """The `dest`s of the options `argv` sets explicitly for subcommand `command`
    (a parse with every default suppressed), so `--resume` can refuse the ones
    that would change the run instead of ignoring them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command", "func"}


def default_run_dir(model, data, now=None):
    """`runs/<model>-<data>-<YYYYmmdd-HHMMSS>`, where `kzoo train` writes without --out."""
    import re
    import time

    stem = pathlib.PurePath(str(data)).name
    for suffix in (".npz", ".csv"):
        stem = stem.split(suffix)[0] if suffix in stem.lower() else stem
    stem = re.sub(r"[^A-Za-z0-9_.=-]+", "-", stem).strip("-") or "data"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return str(pathlib.Path("runs") / f"{model}-{stem}-{stamp}")


# What `kzoo train` prints of the summary: test scores by task, else validation ones.
SHOWN_KEYS = ("model", "data", "backend", "epochs_run", "best_epoch")
TEST_KEYS = ("test_accuracy", "test_mae", "test_mse", "test_loss")
VAL_KEYS = ("final_val_accuracy", "final_val_mae", "final_val_loss")


def cmd_train(args):
    from kzoo.training import resume, train

    verbose = 0 if args.quiet else "auto"
    if args.resume:
        given = getattr(args, "given", set()) - {"resume", "quiet", "backend"}
        overrides = {name: getattr(args, name) for name in given if name != "hp"}
        if "hp" in given:
            overrides["hparams"] = dict(args.hp)
        result = resume(args.resume, verbose=verbose, **overrides)
    else:
        settings = {
            name: getattr(args, name) for name in field_names() if name not in NOT_TRAIN_FLAGS
        }
        if settings["out"] is None:
            settings["out"] = default_run_dir(args.model, args.data)
        result = train(**settings, hparams=dict(args.hp), verbose=verbose)
    s = result.summary
    scores = TEST_KEYS if s.get("has_test", True) else VAL_KEYS
    shown = {k: s[k] for k in (*SHOWN_KEYS, *scores, "wall_time_s") if s.get(k) is not None}
    print(json.dumps(shown))
    if args.quiet:  # otherwise the run printed it already
        from kzoo.diagnose import render

        print(render(s.get("diagnosis", [])))
    if result.run_dir is not None:
        print(f"Results written to {result.run_dir}/ (summary.json, history.csv, model.keras, "
              "plots/); kzoo report DIR redraws the plots.")
    return 0


def cmd_report(args):
    from kzoo.training.run_dir import check_report_dir

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


def _tune_value(value):
    """`--hp KEY=LOW..HIGH` narrows a range; JSON lists narrow choices; scalars fix."""
    if isinstance(value, str) and ".." in value:
        low, _, high = value.partition("..")
        try:
            return (_parse_value(low), _parse_value(high))
        except ValueError:
            pass
    return value


def cmd_tune(args):
    from kzoo.tuning import tune

    fixed = {k: _tune_value(v) for k, v in args.hp}
    if args.show_space:
        from kzoo import zoo
        from kzoo.tuning.api import load_data

        ds = load_data(args.data, seed=args.seed)
        hm = zoo.hypermodel(args.model, ds.input_shape, ds.num_classes, head=ds.task, **fixed)
        print(hm.space_summary())
        return 0
    if args.out is None:
        raise UsageError("kzoo tune needs --out DIR (the search is written and resumed there).")
    result = tune(
        args.model,
        args.data,
        out=args.out,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        objective=args.objective,
        fixed=fixed,
        seed=args.seed,
        early_stopping=args.early_stopping or 0,
        prune=args.prune,
        workers=args.workers,
        heartbeat_timeout=args.heartbeat_timeout,
        overwrite=args.overwrite,
        verbose=0 if args.quiet else 1,
    )
    if result is not None and result.best:
        best = result.best
        print(json.dumps({k: best.get(k) for k in ("trial_id", "objective", "score")}))
        print(f"Results written to {result.out}/ (trials.csv, best.json, best_model.keras, plots/)")
    return 0


def add_tune_arguments(parser):
    _add_model_and_data(
        parser, "fix (depth=2), narrow (depth=1..2, units=[32,64]) or pass a builder argument"
    )
    from kzoo.tuning import TUNERS  # keras-free

    parser.add_argument("--tuner", choices=TUNERS, default="random")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial (hyperband: max)")
    parser.add_argument(
        "--objective",
        default=None,
        help="a metric the model logs, e.g. val_mae; best follows KerasTuner's direction "
        "for it (default: val_accuracy, or val_loss for regression)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="stop trials below the median of finished ones at the same epoch (random, bayesian)",
    )
    parser.add_argument("--workers", type=int, default=0, help="local chief + N worker processes")
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=60.0,
        help="seconds before a silent worker is dropped",
    )
    parser.add_argument("--out", default=None, help="search directory (resumed if it exists)")
    parser.add_argument("--overwrite", action="store_true", help="replace a search in --out")
    parser.add_argument("--show-space", action="store_true", help="print the search space and exit")
    parser.add_argument("--quiet", action="store_true")
    _add_common(parser)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kzoo", description="Keras 3 model zoo: train, search and inspect models."
    )
    parser.add_argument("--version", action="version", version=f"kzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a zoo model and write a run directory")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="KerasTuner search of a zoo model (resumable, distributed)")
    add_tune_arguments(p)
    p.set_defaults(func=cmd_tune)

    add_lr_find_parser(sub, _add_common, _hparam)
    from kzoo.cli_diagnose import add_diagnose_parser

    add_diagnose_parser(sub)

    p = sub.add_parser("report", help="re-plot a run directory")
    p.add_argument("run_dir")
    _add_common(p)
    p.set_defaults(func=cmd_report)

    from kzoo.cli_describe import add_describe_parser
    from kzoo.cli_recipes import add_recipes_parser

    add_describe_parser(sub, _add_common)
    add_recipes_parser(sub, _add_common)

    p = sub.add_parser("list", help="list registered models and datasets")
    _add_common(p)
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
    if isinstance(err, MemoryError):
        return ("out of memory: use a smaller --batch-size, a smaller model or less data.",
                EXIT_ENVIRONMENT)
    if isinstance(err, OverflowError):
        return f"a number is too large ({err}): use a smaller value.", EXIT_USAGE
    if isinstance(err, (ValueError, RuntimeError)):  # Keras' and kzoo's checks of settings
        return str(err), EXIT_USAGE
    return None


def _interrupted_hint(args):
    """Where an interrupted command continues: a train run that was written resumes."""
    from kzoo.training.run_dir import run_kind

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
        set_backend(args.backend)
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\nkzoo {args.command}: interrupted; {_interrupted_hint(args)}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        found = None if debug else _one_line(err)
        if found is None:
            raise
        message, code = found
        print(f"kzoo {args.command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
