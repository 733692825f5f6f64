"""The `kzoo` command line: `kzoo train`, `kzoo report`, `kzoo list`, ...

The `--backend` flag sets `KERAS_BACKEND` before keras is imported, so every
subcommand imports keras lazily, inside its handler.
"""

import argparse
import json
import os
import sys

from kzoo.backend import BACKENDS, DEFAULT_BACKEND, set_backend


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


def _add_common(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND),
        help="Keras backend (default: $KERAS_BACKEND, else %(default)s).",
    )


def _add_model_and_data(parser, hp_help):
    """--model, --data, --hp, --seed and --early-stopping, shared by train and tune."""
    parser.add_argument("--model", default="gru", help="a registered model (kzoo list)")
    parser.add_argument("--data", default="digits-seq", help="dataset spec or .npz path")
    parser.add_argument(
        "--hp", type=_hparam, action="append", default=[], metavar="KEY=VALUE", help=hp_help
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")


def add_train_arguments(parser):
    """Arguments of `kzoo train` (other subcommands reuse the model/data ones)."""
    _add_model_and_data(
        parser, "model hyperparameter, repeatable (e.g. --hp units=128 --hp bidirectional=true)"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=_lr, default=1e-3, help="learning rate")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument(
        "--precision", default="float32", choices=("float32", "mixed_float16", "mixed_bfloat16")
    )
    parser.add_argument("--out", default=None, help="run directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    grad = parser.add_argument_group("gradients")
    grad.add_argument("--grad-log-every", type=int, default=0, metavar="N",
                      help="log global and per-layer gradient norms every N steps (0: off)")
    grad.add_argument("--clip", default="none",
                      choices=("none", "value", "norm", "global_norm", "agc", "autoclip"))
    grad.add_argument("--clip-value", type=float, default=None,
                      help="value/norm/global_norm threshold, AGC lambda (default 1.0; AGC 0.01; "
                      "not for autoclip)")
    grad.add_argument("--clip-percentile", type=float, default=None,
                      help="AutoClip percentile (default 10; autoclip only)")
    grad.add_argument("--grad-health", default="off", choices=("off", "warn", "stop", "rollback"),
                      help="vanishing/exploding gradient diagnosis and action")
    from kzoo.lr_cli import add_lr_arguments

    add_lr_arguments(parser)
    _add_common(parser)


def cmd_train(args):
    from kzoo.training import train

    if args.resume:
        from kzoo.lr_cli import resume_from_cli

        result = resume_from_cli(args)
    else:
        result = train(
            args.model,
            args.data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            seed=args.seed,
            hparams=dict(args.hp),
            early_stopping=args.early_stopping,
            precision=args.precision,
            out=args.out,
            overwrite=args.overwrite,
            verbose=0 if args.quiet else "auto",
            grad_log_every=args.grad_log_every,
            clip=args.clip,
            clip_value=args.clip_value,
            clip_percentile=args.clip_percentile,
            grad_health=args.grad_health,
            **lr_settings(args),
        )
    s = result.summary
    shown = {
        k: s.get(k)
        for k in ("model", "backend", "epochs_run", "test_accuracy", "test_loss", "wall_time_s")
    }
    print(json.dumps(shown))
    if result.run_dir is not None:
        print(
            f"Results written to {result.run_dir}/ (summary.json, history.csv, model.keras, plots/)"
        )
    return 0


def lr_settings(args):
    from kzoo.lr_cli import lr_settings as settings

    return settings(args)


def cmd_report(args):
    from kzoo.report import describe, report

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
        from kzoo import datasets, zoo

        ds = datasets.load(args.data, seed=args.seed)
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
        early_stopping=args.early_stopping,
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
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial (hyperband: max)")
    parser.add_argument("--objective", default=None, help="default: val_accuracy (val_loss)")
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
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a zoo model and write a run directory")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="KerasTuner search of a zoo model (resumable, distributed)")
    add_tune_arguments(p)
    p.set_defaults(func=cmd_tune)

    from kzoo.lr_cli import add_lr_find_parser

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
