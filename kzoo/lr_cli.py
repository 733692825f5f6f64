"""CLI pieces for schedules, checkpoints and the LR finder (used by kzoo.cli).

Adds to `kzoo train`: `--schedule`, `--warmup-epochs`, `--warmup-steps`,
`--lr-scaling`, `--base-batch-size`, `--checkpoint-every-epochs`,
`--checkpoint-every-steps`, `--keep-best`, `--resume DIR`; and the
`kzoo lr-find` subcommand.
"""

import json
import pathlib

# The names of kzoo.callbacks.schedule_factory.SCHEDULES, spelled out so that building the
# parser imports no keras: `--backend` must take effect before keras is imported.
# tests/kzoo/test_cli.py checks the two lists agree.
SCHEDULES = ("constant", "cosine", "linear", "exponential", "step", "onecycle",
             "cosine_restarts", "plateau")


def add_lr_arguments(parser):
    group = parser.add_argument_group("learning rate and checkpoints")
    group.add_argument("--schedule", default="constant", choices=SCHEDULES)
    group.add_argument("--warmup-epochs", type=float, default=0.0, help="linear LR warmup")
    group.add_argument("--warmup-steps", type=int, default=0, help="linear LR warmup, in steps")
    group.add_argument("--lr-scaling", default="none", choices=("none", "linear", "sqrt"),
                       help="scale --lr by batch-size / base-batch-size (or its square root)")
    group.add_argument("--base-batch-size", type=int, default=32)
    group.add_argument("--checkpoint-every-epochs", type=int, default=1, metavar="N",
                       help="full-state checkpoint every N epochs into OUT/checkpoints (0: off)")
    group.add_argument("--checkpoint-every-steps", type=int, default=0, metavar="N",
                       help="also checkpoint every N steps (mid-epoch resume)")
    group.add_argument("--keep-best", type=int, default=1, help="best checkpoints kept")
    group.add_argument("--resume", default=None, metavar="DIR",
                       help="continue the killed run in DIR with its own settings")


def lr_settings(args):
    return {
        "schedule": args.schedule,
        "warmup_epochs": args.warmup_epochs,
        "warmup_steps": args.warmup_steps,
        "lr_scaling": args.lr_scaling,
        "base_batch_size": args.base_batch_size,
        "checkpoint_every_epochs": args.checkpoint_every_epochs,
        "checkpoint_every_steps": args.checkpoint_every_steps,
        "keep_best": args.keep_best,
    }


def resume_from_cli(args):
    """`kzoo train --resume DIR`: rerun DIR's config.json from its last checkpoint."""
    from kzoo.resume import load_run_config
    from kzoo.training import train

    settings = load_run_config(args.resume)
    settings.pop("backend", None)
    model, data = settings.pop("model"), settings.pop("data")
    settings.update(out=str(args.resume), resume=True, overwrite=False)
    settings["verbose"] = 0 if args.quiet else "auto"
    return train(model, data, **settings)


def cmd_lr_find(args):
    from kzoo import zoo
    from kzoo.callbacks.lr_finder import LRFinder
    from kzoo.training import check_model_fits_data, prepare_data

    if args.out is None:
        raise ValueError("kzoo lr-find needs --out DIR for lr_find.json and plots/lr_find.png.")
    data = prepare_data(args.data, seed=args.seed)
    check_model_fits_data(args.model, data)
    if not isinstance(data.train, tuple):
        raise ValueError("kzoo lr-find needs array data (a dataset name or an .npz file).")
    finder = LRFinder(
        min_lr=args.min_lr, max_lr=args.max_lr, num_steps=args.num_steps,
        batch_size=args.batch_size, seed=args.seed,
    )
    import keras

    keras.utils.set_random_seed(args.seed)
    net = zoo.create(
        args.model, data.input_shape, data.num_classes, head=data.task,
        optimizer=args.optimizer, learning_rate=args.min_lr, **dict(args.hp),
    )
    result = finder.find(net, *data.train)
    finder.save(pathlib.Path(args.out))
    print(json.dumps({"suggestions": result["suggestions"], "diverged_at": result["diverged_at"]}))
    print(f"Results written to {args.out}/ (lr_find.json, plots/lr_find.png)")
    return 0


def add_lr_find_parser(sub, add_model_arguments):
    p = sub.add_parser("lr-find", help="learning-rate range test; writes lr_find.json and a plot")
    add_model_arguments(p)
    p.add_argument("--min-lr", type=float, default=1e-7)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument("--num-steps", type=int, default=100)
    p.set_defaults(func=cmd_lr_find)
