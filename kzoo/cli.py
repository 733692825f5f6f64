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


def add_train_arguments(parser):
    """Arguments of `kzoo train` (other subcommands reuse the model/data ones)."""
    parser.add_argument("--model", default="gru", help="a registered model (kzoo list)")
    parser.add_argument("--data", default="digits-seq", help="dataset spec or .npz path")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=_lr, default=1e-3, help="learning rate")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hp",
        type=_hparam,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model hyperparameter, repeatable (e.g. --hp units=128 --hp bidirectional=true)",
    )
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    parser.add_argument(
        "--precision", default="float32", choices=("float32", "mixed_float16", "mixed_bfloat16")
    )
    parser.add_argument("--out", default=None, help="run directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(parser)


def cmd_train(args):
    from kzoo.training import train

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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kzoo", description="Keras 3 model zoo: train, search and inspect models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a zoo model and write a run directory")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

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
