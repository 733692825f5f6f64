"""The `kzoo` command line: `kzoo train`, `kzoo report`, `kzoo list`, ...

The `--backend` flag sets `KERAS_BACKEND` before keras is imported, so every
subcommand imports keras lazily, inside its handler (the deferred imports
below keep `kzoo --help` keras-free). Defaults and choices of `kzoo train`
come from the keras-free `kzoo.training.config`.
"""

import argparse
import json
import os
import sys

from kzoo import __version__
from kzoo.backend import BACKENDS, DEFAULT_BACKEND, set_backend
from kzoo.cli_lr_find import add_lr_find_parser
from kzoo.training.config import (
    CLIP_CHOICES,
    HEALTH_CHOICES,
    LR_SCALINGS,
    PRECISIONS,
    SCHEDULES,
    SELECTIONS,
    default,
    field_names,
)


def _parse_value(text):
    """`--hp` values: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _hparam(text):
    key, eq, value = text.partition("=")
    if not eq or not key:
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
    parser.add_argument("--data", default=default("data"), help="dataset spec or .npz path")
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
    parser.add_argument("--out", default=default("out"), help="run directory to write")
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


def cmd_train(args):
    from kzoo.training import resume, train

    verbose = 0 if args.quiet else "auto"
    if args.resume:
        result = resume(args.resume, verbose=verbose)
    else:
        settings = {
            name: getattr(args, name) for name in field_names() if name not in NOT_TRAIN_FLAGS
        }
        result = train(**settings, hparams=dict(args.hp), verbose=verbose)
    s = result.summary
    shown = {
        k: s.get(k)
        for k in ("model", "backend", "epochs_run", "test_accuracy", "test_loss", "wall_time_s")
    }
    print(json.dumps(shown))
    if args.quiet:  # otherwise the run printed it already
        from kzoo.diagnose import render

        print(render(s.get("diagnosis", [])))
    if result.run_dir is not None:
        print(
            f"Results written to {result.run_dir}/ (summary.json, history.csv, model.keras, plots/)"
        )
    return 0


def cmd_report(args):
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

    print("models:")
    for name in zoo.list():
        spec = zoo.get_spec(name)
        print(f"  {name:16s} {spec.kind:9s} {spec.description}")
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
        raise ValueError("kzoo tune needs --out DIR (the search is written and resumed there).")
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

    add_lr_find_parser(sub, add_train_arguments)
    from kzoo.cli_diagnose import add_diagnose_parser

    add_diagnose_parser(sub)

    p = sub.add_parser("report", help="re-plot a run directory")
    p.add_argument("run_dir")
    _add_common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("list", help="list registered models and datasets")
    _add_common(p)
    p.set_defaults(func=cmd_list)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        set_backend(args.backend)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return args.func(args)
    except (ValueError, RuntimeError) as err:
        print(f"kzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
