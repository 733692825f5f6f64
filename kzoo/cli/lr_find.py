"""`kzoo lr-find`: the learning-rate range test from the command line.

Writes `lr_find.json` and `plots/lr_find.png` into `--out`, a new or empty
directory or an earlier lr-find's (with `--overwrite`): like a train run it is
marked, locked and never a user's folder (`kzoo.rundir`). Keras loads
inside the handler, after `--backend` took effect (like every `kzoo` subcommand).
"""

import json


def cmd_lr_find(args):
    import keras

    from kzoo import rundir as layout
    from kzoo import zoo
    from kzoo.plots import plot_lr_find
    from kzoo.plots.learning_rate import LR_FIND_PNG
    from kzoo.runtime.errors import UsageError
    from kzoo.schedules.lr_finder import LRFinder, recommend_lr
    from kzoo.training import TrainConfig, prepare_data
    from kzoo.training.config import validate_config

    validate_config(TrainConfig(model=args.model, data=args.data, seed=args.seed,
                                batch_size=args.batch_size, optimizer=args.optimizer))
    if not (0 < args.min_lr < args.max_lr < float("inf")) or args.num_steps < 2:
        raise UsageError(
            f"lr-find needs 0 < --min-lr < --max-lr (finite) and --num-steps >= 2, got "
            f"{args.min_lr}, {args.max_lr}, {args.num_steps}."
        )
    out, _ = layout.check_out(args.out, "lr-find", overwrite=args.overwrite)
    zoo.get_spec(args.model)
    zoo.check_hparams(args.model, dict(args.hp))
    data = prepare_data(args.data, seed=args.seed)
    zoo.check_model_fits_data(args.model, data)
    if not isinstance(data.train, tuple):
        raise UsageError("kzoo lr-find needs array data (a dataset name, .npz or .csv file).")
    finder = LRFinder(
        min_lr=args.min_lr, max_lr=args.max_lr, num_steps=args.num_steps,
        batch_size=args.batch_size, seed=args.seed,
    )
    keras.utils.set_random_seed(args.seed)
    net = zoo.create(
        args.model, data.input_shape, data.num_classes, head=data.task,
        optimizer=args.optimizer, learning_rate=args.min_lr, **dict(args.hp),
    )
    # The inputs only: no closed-form head (MiniRocket's ridge); the rate is the trained one's.
    zoo.fit_to_data(net, data.train[0])
    result = finder.find(net, *data.train)
    lr, why = recommend_lr(result["suggestions"])
    with layout.claim(out, "lr-find", overwrite=args.overwrite):
        layout.write_lr_find(out / layout.LR_FIND_FILE, result, lr, why)
        plot_lr_find(result, out / layout.PLOTS_DIR / LR_FIND_PNG)
    print(json.dumps({"recommended_lr": lr, "suggestions": result["suggestions"],
                      "diverged_at": result["diverged_at"]}))
    print(f"Recommended learning rate: {lr:.3g}, by {why}. Train with --lr {lr:.3g} "
          "(or --lr auto, which applies the same rule).")
    print(f"Results written to {args.out}/ (lr_find.json, plots/lr_find.png)")
    return 0


def add_parser(sub):
    """The `lr-find` subparser, with only the flags lr-find reads."""
    from kzoo.cli.args import HpAction, add_common, hparam
    from kzoo.training.config import default

    p = sub.add_parser(
        "lr-find", help="learning-rate range test; recommends one rate, writes lr_find.json"
    )
    p.add_argument("--model", default=default("model"), help="a registered model (kzoo list)")
    p.add_argument("--data", default=default("data"), help="dataset spec, .npz or .csv path")
    p.add_argument("--hp", type=hparam, action=HpAction, default=[], metavar="KEY=VALUE",
                   help="model hyperparameter, repeatable")
    p.add_argument("--seed", type=int, default=default("seed"))
    # The sweep's own batch size and optimizer: `kzoo train` resolves these from the
    # family recipe ("auto"/None), which a range test run alone has no use for.
    p.add_argument("--batch-size", type=int, default=32, help="batch size of the sweep")
    p.add_argument("--optimizer", default="adam", help="Keras optimizer name")
    p.add_argument("--out", default=None, required=True,
                   help="directory for lr_find.json and plots/lr_find.png")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier lr-find run in --out (never other files)")
    p.add_argument("--min-lr", type=float, default=1e-7)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument("--num-steps", type=int, default=100)
    add_common(p)
    p.set_defaults(func=cmd_lr_find)
    return p
