"""UCR/UEA benchmark: every sequence family on the four shared datasets.

Trains each family with the default recipe of `recipes/ucr_classification.py`
(Adam, global-norm clipping, ReduceLROnPlateau, EarlyStopping on the
validation split carved from the archive's train split, best weights
restored) for at most 1/10 of the published epoch budgets, over several
seeds, and compares the mean test accuracy with the published table in
`../shared/data/ucr/README.md`. Each finished run is appended to a JSON-lines
file, so an interrupted benchmark keeps what it measured; `--report` turns
that file into the markdown table for `benchmarks/RESULTS.md`.

Usage (from the repository root):

    KZOO_DATA=../shared/data/ucr KERAS_BACKEND=jax .venv/bin/python benchmarks/ucr/run.py \
        --families fcn,resnet1d --datasets GunPoint,ItalyPowerDemand --seeds 0,1,2
    .venv/bin/python benchmarks/ucr/run.py --report
"""

import argparse
import json
import os
import pathlib
import platform
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"
DATASETS = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels")
FAMILIES = ("fcn", "resnet1d", "inception_time", "lstm_fcn", "tcn", "transformer")

# The published architectures (Fawaz et al. 2019/2020, Karim et al. 2018); the
# zoo's defaults are smaller to stay cheap on CPU.
HPARAMS = {
    "fcn": {"filters": 128},
    "resnet1d": {"filters": 64},
    "inception_time": {"depth": 6},
    "lstm_fcn": {"filters": 128},
    "tcn": {"depth": 4, "filters": 64},
    "transformer": {"d_model": 64, "depth": 2},
}
# 1/10 of the published budgets (FCN 2000, ResNet 1500, InceptionTime 1500,
# LSTM-FCN 2000 epochs); TCN and the Transformer have no published UCR budget.
EPOCHS = {"fcn": 200, "resnet1d": 150, "inception_time": 150, "lstm_fcn": 200,
          "tcn": 150, "transformer": 150}
# Published test accuracy (%), ../shared/data/ucr/README.md.
PUBLISHED = {
    "GunPoint": {"FCN": 100, "ResNet": 99.1, "InceptionTime": 100, "LSTM-FCN": 100},
    "ItalyPowerDemand": {"FCN": 96.1, "ResNet": 96.3, "InceptionTime": 96.5, "LSTM-FCN": 96.2},
    "BasicMotions": {"FCN": 100, "ResNet": 100, "InceptionTime": 100},
    "JapaneseVowels": {"FCN": 99.3, "ResNet": 99.2, "InceptionTime": 99.2},
}


def run_one(family, dataset, seed, epochs):
    import keras

    import kzoo.datasets
    import kzoo.zoo

    keras.utils.set_random_seed(seed)
    ds = kzoo.datasets.load(f"ucr:{dataset}", seed=seed)
    hparams = dict(HPARAMS[family])
    if not ds.info["equal_length"]:
        hparams["masking"] = True
        if family == "lstm_fcn":
            hparams["dimension_shuffle"] = False
    model = kzoo.zoo.create(family, ds.input_shape, ds.num_classes, compile=False, **hparams)
    optimizer = keras.optimizers.Adam(1e-3, clipnorm=1.0)
    kzoo.zoo.compile_for_head(model, ds.task, optimizer=optimizer)
    batch = int(min(16, max(4, len(ds.x_train) // 10)))
    callbacks = [
        keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=15, min_lr=1e-4),
        keras.callbacks.EarlyStopping("val_loss", patience=40, restore_best_weights=True),
    ]
    start = time.perf_counter()
    history = model.fit(ds.x_train, ds.y_train, validation_data=(ds.x_val, ds.y_val),
                        epochs=epochs, batch_size=batch, callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start
    _, acc = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    return {"family": family, "dataset": dataset, "seed": seed, "test_accuracy": float(acc),
            "epochs_run": len(history.history["loss"]), "max_epochs": epochs,
            "train_seconds": round(seconds, 1), "backend": keras.backend.backend(),
            "hparams": hparams, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "date": time.strftime("%Y-%m-%d")}


def report():
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    out = ["| dataset | family | seeds | mean test acc (%) | std | mean epochs | mean train s | "
           "best published (%) | gap (pts) |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset in DATASETS:
        best = max(PUBLISHED[dataset].values())
        for family in FAMILIES:
            runs = [r for r in rows if r["dataset"] == dataset and r["family"] == family]
            if not runs:
                continue
            acc = 100 * np.array([r["test_accuracy"] for r in runs])
            out.append(
                f"| {dataset} | {family} | {','.join(str(r['seed']) for r in runs)} | "
                f"{acc.mean():.1f} | {acc.std():.1f} | "
                f"{np.mean([r['epochs_run'] for r in runs]):.0f}/{runs[0]['max_epochs']} | "
                f"{np.mean([r['train_seconds'] for r in runs]):.0f} | {best} | "
                f"{acc.mean() - best:+.1f} |"
            )
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epoch-scale", type=float, default=1.0,
                        help="multiply the (already 1/10) epoch budgets, e.g. 0.5 on a busy CPU")
    parser.add_argument("--report", action="store_true", help="print the markdown table")
    args = parser.parse_args()
    if args.report:
        print(report())
        return
    for family in args.families.split(","):
        for dataset in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                epochs = max(1, int(EPOCHS[family] * args.epoch_scale))
                result = run_one(family, dataset, seed, epochs)
                print(json.dumps(result), flush=True)
                with open(RESULTS, "a") as f:
                    f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
