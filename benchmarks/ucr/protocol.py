"""Which protocol for tiny UCR training splits? An experiment (issue #17).

The harness (`run.py`) carves a stratified 20 % validation split out of the
archive's train split and stops early on it; on Coffee that leaves 22 examples
to train on and 6 to choose the epoch with. The published protocol (Fawaz et
al. 2019, "Deep learning for time series classification: a review") trains on
the whole train split and keeps the model with the lowest training loss. This
script compares, per dataset and seed, with the same model, optimizer and
epoch budget:

- `val_es`: the harness recipe (80/20 split, EarlyStopping on val_loss,
  patience 40, best weights restored);
- `train_loss`: the whole train split, the weights of the epoch with the
  lowest training loss restored at the end (Fawaz et al. 2019);
- `last`: the whole train split, the final weights (no selection at all).

Every protocol uses Adam 1e-3, clipnorm 1.0, ReduceLROnPlateau on the training
loss (factor 0.5, patience 15, min 1e-4) and batch min(16, max(4, n // 10)) of
the examples it trains on. Each finished run is appended to `protocol.jsonl`;
`--report` prints the markdown table.

Usage (from the repository root):

    KZOO_DATA=../shared/data/ucr KERAS_BACKEND=jax nohup .venv/bin/python \
        benchmarks/ucr/protocol.py --datasets Coffee,GunPoint,Trace --seeds 0,1 &
    .venv/bin/python benchmarks/ucr/protocol.py --report
"""

import argparse
import json
import pathlib
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "protocol.jsonl"
PROTOCOLS = ("val_es", "train_loss", "last")


def run_one(family, dataset, seed, epochs, protocol):
    import keras

    import kzoo.datasets
    import kzoo.zoo

    keras.utils.set_random_seed(seed)
    ds = kzoo.datasets.load(f"ucr:{dataset}", seed=seed)
    if protocol == "val_es":
        x, y, val = ds.x_train, ds.y_train, (ds.x_val, ds.y_val)
    else:
        x = np.concatenate([ds.x_train, ds.x_val])
        y = np.concatenate([ds.y_train, ds.y_val])
        val = None
    hparams = {"filters": 128} if family in ("fcn", "lstm_fcn") else {}
    if not ds.info["equal_length"]:
        hparams["masking"] = True
    model = kzoo.zoo.create(family, ds.input_shape, ds.num_classes, compile=False, **hparams)
    kzoo.zoo.compile_for_head(model, ds.task, optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    batch = int(min(16, max(4, len(x) // 10)))
    callbacks = [keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=15, min_lr=1e-4)]
    if protocol == "val_es":
        callbacks.append(
            keras.callbacks.EarlyStopping("val_loss", patience=40, restore_best_weights=True)
        )
    elif protocol == "train_loss":
        # patience > epochs: never stops, only keeps and restores the best epoch.
        callbacks.append(
            keras.callbacks.EarlyStopping("loss", patience=epochs + 1, restore_best_weights=True)
        )
    start = time.perf_counter()
    history = model.fit(x, y, validation_data=val, epochs=epochs, batch_size=batch,
                        callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start
    monitor = "val_loss" if protocol == "val_es" else "loss"
    best_epoch = int(np.argmin(history.history[monitor])) + 1
    _, acc = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    _, train_acc = model.evaluate(x, y, verbose=0)
    return {"family": family, "dataset": dataset, "seed": seed, "protocol": protocol,
            "n_train": len(x), "batch": batch, "test_accuracy": float(acc),
            "train_accuracy_inference": float(train_acc), "best_epoch": best_epoch,
            "epochs_run": len(history.history["loss"]), "max_epochs": epochs,
            "train_seconds": round(seconds, 1), "backend": keras.backend.backend(),
            "date": time.strftime("%Y-%m-%d")}


def report():
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    out = ["| dataset | n train | family | protocol | seeds | mean test acc (%) | per seed |",
           "|---|---|---|---|---|---|---|"]
    keys = sorted({(r["dataset"], r["family"]) for r in rows},
                  key=lambda k: min(r["n_train"] for r in rows if r["dataset"] == k[0]))
    for dataset, family in keys:
        for protocol in PROTOCOLS:
            runs = [r for r in rows if (r["dataset"], r["family"], r["protocol"])
                    == (dataset, family, protocol)]
            if not runs:
                continue
            acc = 100 * np.array([r["test_accuracy"] for r in runs])
            out.append(
                f"| {dataset} | {max(r['n_train'] for r in runs)} | {family} | {protocol} | "
                f"{','.join(str(r['seed']) for r in runs)} | {acc.mean():.1f} | "
                f"{' '.join(f'{a:.1f}' for a in acc)} |"
            )
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="fcn")
    parser.add_argument("--datasets", default="Coffee,GunPoint,Trace,ItalyPowerDemand")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--report", action="store_true", help="print the markdown table")
    args = parser.parse_args()
    if args.report:
        print(report())
        return
    # Seeds outermost: an interrupted run still covers every dataset and protocol.
    for seed in (int(s) for s in args.seeds.split(",")):
        for family in args.families.split(","):
            for dataset in args.datasets.split(","):
                for protocol in args.protocols.split(","):
                    result = run_one(family, dataset, seed, args.epochs, protocol)
                    print(json.dumps(result), flush=True)
                    with open(RESULTS, "a") as f:
                        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
