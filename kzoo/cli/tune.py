"""`kzoo tune`: its flags and the handler. Keras and KerasTuner load inside
`cmd_tune`, after `--backend` took effect.
"""

import dataclasses
import json

from kzoo.cli.args import add_common, add_model_and_data, devices_value, parse_value
from kzoo.runtime.errors import UsageError
from kzoo.tuning.config import TuneConfig, default


def _tune_value(value):
    """`--hp KEY=LOW..HIGH` narrows a range; JSON lists narrow choices; scalars fix."""
    if isinstance(value, str) and ".." in value:
        low, _, high = value.partition("..")
        try:
            return (parse_value(low), parse_value(high))
        except ValueError:
            pass
    return value


def cmd_tune(args):
    from kzoo.tuning import tune

    if args.model == "auto":  # the family is searched too (kzoo/tuning/auto.py)
        from kzoo.tuning.auto import tune_auto

        if args.out is None:
            raise UsageError("kzoo tune --model auto needs --out DIR (the search is written "
                             "there).")
        result = tune_auto(args.data, out=args.out, budget=args.budget, seed=args.seed,
                           epochs=args.epochs, overwrite=args.overwrite,
                           verbose=0 if args.quiet else 1)
        print(f"Results written to {result['out']}/ (trials.csv, best.json, final/)")
        return 0
    if args.budget is not None:
        raise UsageError("--budget applies to --model auto; with one family, --max-trials "
                         "bounds the search.")
    args.epochs = default("epochs") if args.epochs is None else args.epochs
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
    # Each flag is named as its TuneConfig field; --hp, --quiet and the train-shared
    # --early-stopping (default None: the recipe's, which a search does not use) are not.
    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(TuneConfig)
                if hasattr(args, f.name)}
    settings.update(fixed=fixed, early_stopping=args.early_stopping or 0,
                    verbose=0 if args.quiet else 1)
    result = tune(**settings)
    if result is not None and result.best:
        best = result.best
        print(json.dumps({k: best.get(k) for k in ("trial_id", "objective", "score")}))
        print(f"Results written to {result.out}/ (trials.csv, best.json, best_model.keras, plots/)")
    return 0


def add_tune_arguments(parser):
    add_model_and_data(
        parser, "fix (depth=2), narrow (depth=1..2, units=[32,64]) or pass a builder argument"
    )
    from kzoo.tuning import TUNERS  # keras-free

    parser.add_argument("--tuner", choices=TUNERS, default=default("tuner"))
    parser.add_argument("--max-trials", type=int, default=default("max_trials"))
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per trial (hyperband: max); default {default('epochs')}, "
                        "with --model auto each family's recipe budget")
    parser.add_argument("--budget", default=None, metavar="DURATION",
                        help="with --model auto: the time the search and the final training "
                        "may take, e.g. 10m, 1h (the family is searched too)")
    parser.add_argument(
        "--objective",
        default=default("objective"),
        help="a metric the model logs, e.g. val_mae; best follows KerasTuner's direction "
        "for it (default: val_accuracy, or val_loss for regression)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="stop trials below the median of finished ones at the same epoch (random, bayesian)",
    )
    parser.add_argument("--accumulate", type=int, default=default("accumulate"), metavar="N",
                        help="each trial's optimizer steps every N batches (gradient "
                        "accumulation): a trial's batch_size is the micro-batch")
    parser.add_argument("--workers", type=int, default=default("workers"),
                        help="local chief + N worker processes")
    parser.add_argument(
        "--devices",
        type=devices_value,
        default=default("devices"),
        help="N|all: each trial trains on N devices of this process (a search without workers)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=int,
        default=default("gpus_per_worker"),
        help="with --workers or --cluster: each worker trains on its own block of K GPUs "
        "(CPU testing: KZOO_VIRTUAL_DEVICES=1 gives jax workers K virtual devices)",
    )
    parser.add_argument(
        "--cluster",
        default=default("cluster"),
        metavar="slurm|HOSTFILE",
        help="one process of a search on several hosts: roles from SLURM's variables, or "
        "from a hostfile (a host per line and process, with --rank); rank 0 is the chief",
    )
    parser.add_argument("--rank", type=int, default=default("rank"),
                        help="this process's hostfile line")
    parser.add_argument(
        "--chief-port", type=int, default=default("chief_port"),
        help="the chief's port (--cluster)"
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=default("heartbeat_timeout"),
        help="seconds before a silent worker is dropped",
    )
    parser.add_argument("--out", default=None,  # required by the command, not by TuneConfig
                        help="search directory (resumed if it exists)")
    parser.add_argument("--overwrite", action="store_true", help="replace a search in --out")
    parser.add_argument("--show-space", action="store_true", help="print the search space and exit")
    parser.add_argument("--tensorboard", action="store_true",
                        help="write each trial's curves and the HParams dashboard's data to "
                        "OUT/tb (no TensorFlow needed; pip install 'kzoo[tensorboard]')")
    parser.add_argument("--quiet", action="store_true")
    add_common(parser)


def add_parser(sub):
    p = sub.add_parser("tune", help="KerasTuner search of a zoo model (resumable, distributed)")
    add_tune_arguments(p)
    p.set_defaults(func=cmd_tune)
    return p

