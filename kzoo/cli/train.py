"""`kzoo train`: its flags, the handler, and what it prints.

Defaults and choices come from the keras-free `kzoo.training.config`; keras loads
inside `cmd_train`, after `--backend` took effect.
"""

import json
import pathlib

from kzoo.cli.args import add_common, add_model_and_data, auto_int, devices_value, lr_value
from kzoo.rundir.files import TENSORBOARD_DIR
from kzoo.runtime import processes
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


def add_train_arguments(parser):
    """Arguments of `kzoo train` (other subcommands reuse the model/data ones).

    Defaults and choices come from `kzoo.training.config`, the one place they are spelled.
    """
    add_model_and_data(
        parser, "model hyperparameter, repeatable (e.g. --hp units=128 --hp bidirectional=true)"
    )
    parser.add_argument("--epochs", type=auto_int, default=default("epochs"),
                        help="maximum epochs, or 'auto' (default): the family recipe's budget")
    parser.add_argument("--batch-size", type=auto_int, default=default("batch_size"),
                        help="examples per step, or 'auto' (default): min(n/10, the recipe's "
                        "cap), smaller when BatchNorm needs more steps; 'max': the largest "
                        "batch that fits the device (doubling, then bisection)")
    parser.add_argument("--accumulate", type=int, default=default("accumulate"), metavar="N",
                        help="gradient accumulation: the optimizer steps every N batches, on "
                        "their mean gradient (global batch = --batch-size x N; schedules, "
                        "--lr-scaling and the gradient callbacks count optimizer steps)")
    parser.add_argument("--lr", type=lr_value, default=default("lr"),
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
    parser.add_argument("--devices", type=devices_value, default=default("devices"),
                        metavar="N|all",
                        help="train on N devices (or all), data-parallel: jax DataParallel, "
                        "tensorflow MirroredStrategy (not torch); --batch-size is the global "
                        "batch")
    parser.add_argument("--no-precise-bn", dest="precise_bn", action="store_false",
                        default=default("precise_bn"),
                        help="keep BatchNorm's moving averages: no recomputed statistics "
                        "before each validation and the test (selection and early stopping "
                        "then skip the epochs before the averages settle)")
    parser.add_argument("--ensemble", type=int, default=default("ensemble"), metavar="N",
                        help="train N members (seeds seed..seed+N-1) into OUT/members/ and "
                        "keep the model averaging their probabilities; default: the recipe's "
                        "(inception_time and lite: 5 on small data, else 1); 1: one network")
    parser.add_argument("--init-seed", type=int, default=default("init_seed"), metavar="S",
                        help="seed of initialisation, dropout and batch order (default: "
                        "--seed, which then seeds the split too); ensemble members get seed+i")
    parser.add_argument("--out", default=default("out"),
                        help="run directory to write (default: runs/<model>-<data>-<time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--tensorboard", nargs="?", const=True, default=default("tensorboard"),
                        metavar="DIR",
                        help="write TensorBoard event files (no TensorFlow needed) to DIR "
                        "(default OUT/tb); needs pip install 'kzoo[tensorboard]'")
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
                    help="scale --lr by batch-size / base-batch-size (or its square root); "
                    "the batch size is the global one, over all --devices")
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
    add_common(parser)


# TrainConfig fields the train flags do not carry under their own name: --hp, --quiet,
# --resume DIR (a path, not the bool) and --backend (applied before keras is imported).
NOT_TRAIN_FLAGS = ("hparams", "verbose", "resume", "backend")
# The options that join a multi-process job (`kzoo.runtime.processes`), not settings of the run.
JOIN_FLAGS = ("coordinator", "num_processes", "process_id")


def add_join_arguments(parser):
    """The options that join a multi-process job (`JOIN_FLAGS`, for
    `processes.join`), in their own group of `parser`."""
    group = parser.add_argument_group(
        "several processes (jax)",
        "join a job of several processes, each with its own devices (run the same command "
        "with --devices all on each); process 0 writes the run directory. Defaults: "
        f"${processes.ENV_COORDINATOR}, ${processes.ENV_NUM_PROCESSES}, "
        f"${processes.ENV_PROCESS_ID} (Keras' own variables).",
    )
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="address of process 0, which every process connects to")
    group.add_argument("--num-processes", type=int, default=None, metavar="P",
                       help="number of processes in the job, over all hosts")
    group.add_argument("--process-id", type=int, default=None, metavar="I",
                       help="this process's index, 0 to P-1 (0 writes)")


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
    # A multi-process job is joined before anything uses the backend.
    joining = {name: getattr(args, name, None) for name in JOIN_FLAGS}
    processes.join(**joining)
    from kzoo.training import resume, train

    verbose = 0 if args.quiet else "auto"
    if args.resume:
        given = getattr(args, "given", set()) - {"resume", "quiet", "backend", *JOIN_FLAGS}
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
    if getattr(args, "tensorboard", None):
        logs = result.run_dir / TENSORBOARD_DIR if args.tensorboard is True else args.tensorboard
        print(f"TensorBoard event files in {logs}: tensorboard --logdir {logs}")
    return 0


def add_parser(sub):
    p = sub.add_parser("train", help="train a zoo model and write a run directory")
    add_train_arguments(p)
    add_join_arguments(p)
    p.set_defaults(func=cmd_train)
    return p

