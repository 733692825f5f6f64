"""TensorBoard without TensorFlow, end to end, through the `kzoo` command.

    python tensorboard_check.py WORKDIR

In WORKDIR: `kzoo train --tensorboard` (gradient norms logged, clipping on) and
`kzoo tune --tensorboard` are each SIGKILLed mid-run and resumed; then TensorBoard's
own reader (`EventAccumulator`, the HParams plugin's backend) reads the event files
back, and the scalar tags, the steps (each once) and the values must equal
history.csv, grad_norms.csv, trials.csv and each trial's hyperparameters.
TensorFlow must not be importable in this python. Prints one line per check; exits 1
on the first failure.

Run by .ci/wheel_smoke.sh with the python of a clean venv holding only the wheel
(`kzoo[jax,tensorboard]`), and by tests/kzoo/cli/test_cli_tensorboard.py on torch
(tensorflow and jax hidden from the test venv's python). `kzoo` is the console
script beside this python.

The kill: the run to kill is started as `python tensorboard_check.py --child
EPOCH TRIALS -- <kzoo arguments>`, which runs kzoo's own `main` and, at the end of
the first batch of epoch EPOCH (of the TRIALS-th trial of a search; 0 for a
training run), prints a line and waits; this script SIGKILLs it on that line. The
point reached is the same on every run and machine.
"""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

from tensorboard_read import accumulator, dashboard_groups, hparam_value, read_csv, scalars

KILL_LINE = "kill me now"
# 200 training examples (the recipes keep a validation split from 200 on), in
# batches of 50: 4 steps an epoch, one compiled shape.
N_TRAIN, N_HELD_OUT, BATCH = 200, 40, 50
TRAIN = ["--model", "mlp", "--data", "data.npz", "--hp", "width=8", "--hp", "depth=1",
         "--seed", "0", "--quiet"]
# Checkpoints at step 3 (in epoch 0) only: the kill at step 5 (epoch 1, batch 0) makes
# the resumed run redo step 4 and epoch 0's end, whose events the killed run wrote:
# TensorBoard must show them once.
TRAIN_RUN = ["train", *TRAIN, "--epochs", "2", "--batch-size", str(BATCH), "--lr", "0.01",
             "--grad-log-every", "2", "--clip", "global_norm", "--clip-value", "0.5",
             "--checkpoint-every-epochs", "0", "--checkpoint-every-steps", "3",
             "--tensorboard", "--out", "run"]
TUNE_RUN = ["tune", *TRAIN, "--max-trials", "2", "--epochs", "2", "--hp", f"batch_size={BATCH}",
            "--objective", "val_loss", "--tensorboard", "--out", "search"]


def fail(message):
    print(f"FAIL tensorboard: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def close(a, b, rel=1e-5):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=rel, abs_tol=1e-7)
                                    for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ running kzoo

def kzoo_command():
    exe = pathlib.Path(sys.executable).with_name("kzoo")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kzoo.cli"]


def run(args, kill_at=None):
    """Run `kzoo ARGS`; with `kill_at=(epoch, trials)`, SIGKILL it there (and require it)."""
    if kill_at is None:
        cmd = kzoo_command() + args
    else:
        cmd = [sys.executable, __file__, "--child", *map(str, kill_at), "--", *args]
    # jax: the resumed runs reuse the killed runs' compilations (CI time; what is
    # checked is the same)
    env = {"JAX_COMPILATION_CACHE_DIR": os.path.abspath(".jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", **os.environ}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if kill_at is not None and line.strip() == KILL_LINE:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=300)
    proc.stdout.close()
    tail = "\n    ".join(lines[-15:])
    if kill_at is None:
        check(proc.returncode == 0, f"kzoo {' '.join(args)} exited {proc.returncode}:\n    {tail}")
    else:
        check(proc.returncode == -signal.SIGKILL,
              f"kzoo {' '.join(args)} was not killed at {kill_at} "
              f"(exit {proc.returncode}):\n    {tail}")


def child(epoch, trials, args):
    """Run kzoo's `main(args)`; at the end of batch 0 of `epoch` (of the `trials`-th
    trial: that many trial folders), print KILL_LINE and wait to be killed."""
    import kzoo  # noqa: F401, I001  picks the backend before keras is imported
    import keras

    calls = keras.callbacks.CallbackList
    begin, batch_end = calls.on_epoch_begin, calls.on_train_batch_end
    now = {}

    def on_epoch_begin(self, e, logs=None):
        now["epoch"] = e
        return begin(self, e, logs)

    def on_train_batch_end(self, batch, logs=None):
        batch_end(self, batch, logs)
        started = len(list(pathlib.Path("search/kt").glob("trial_*")))
        if batch == 0 and now.get("epoch") == epoch and trials in (0, started):
            print(KILL_LINE, flush=True)
            time.sleep(300)

    calls.on_epoch_begin, calls.on_train_batch_end = on_epoch_begin, on_train_batch_end
    from kzoo.cli import main

    sys.exit(main(args))


# ------------------------------------------------------------------ the checks

def one_event_file(directory):
    files = list(pathlib.Path(directory).glob("events.out.tfevents.*"))
    check(len(files) == 1, f"{directory}: {len(files)} event files; the resumed run "
          "should continue the killed run's one")


def write_data():
    import numpy as np

    rng = np.random.default_rng(0)
    n = N_TRAIN + 2 * N_HELD_OUT
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")
    a, b = N_TRAIN, N_TRAIN + N_HELD_OUT
    np.savez("data.npz", x_train=x[:a], y_train=y[:a], x_val=x[a:b], y_val=y[a:b],
             x_test=x[b:], y_test=y[b:])


def check_train():
    run(TRAIN_RUN, kill_at=(1, 0))
    killed = read_csv("run/history.csv")
    check([r["epoch"] for r in killed] == ["0"], f"killed run's history: {killed}")
    before = scalars("run/tb/train")
    check([s for s, _ in before["epoch_loss"]] == [0],
          "the killed run should have written epoch 0's events")
    manifest = json.loads(pathlib.Path("run/checkpoints/manifest.json").read_text())
    saved = [c["global_step"] for c in manifest["checkpoints"]]
    check(saved == [3], f"the killed run's checkpoints should be step 3's alone: {saved}")
    run(["train", "--resume", "run", "--quiet"])
    print("PASS tensorboard train: killed at epoch 1 (checkpoint at step 3), resumed")

    history = read_csv("run/history.csv")
    check([r["epoch"] for r in history] == ["0", "1"], f"history.csv epochs: {history}")
    train, val = scalars("run/tb/train"), scalars("run/tb/validation")
    for key in history[0]:
        if key == "epoch":
            continue
        tags = val if key.startswith("val_") else train
        tag = "epoch_" + key.removeprefix("val_")
        check(tag in tags, f"no {tag} in {sorted(tags)}")
        check([s for s, _ in tags[tag]] == [0, 1], f"{tag} steps {tags[tag]}")
        check(close([v for _, v in tags[tag]], [float(r[key]) for r in history]),
              f"{tag} {tags[tag]} != history.csv {key}")
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_lr", "epoch_grad_norm",
                "epoch_grad_clip_fraction"):
        check(tag in train, f"train/ lacks {tag}: {sorted(train)}")
    summary = json.loads(pathlib.Path("run/summary.json").read_text())
    check(close([v for _, v in train["test/accuracy"]], [summary["test_accuracy"]])
          and [s for s, _ in train["test/accuracy"]] == [1],
          f"test/accuracy {train['test/accuracy']} != summary.json")
    text = accumulator("run/tb/train").Tensors("diagnosis")
    check(len(text) == 1 and b"Diagnosis" in text[0].tensor_proto.string_val[0],
          "no diagnosis text")

    norms = read_csv("run/grad_norms.csv")
    steps = [int(r["step"]) for r in norms]
    check(steps == [0, 2, 4, 6], f"grad_norms.csv steps {steps}")
    grads = scalars("run/tb/gradients")
    layers = [c for c in norms[0] if c not in ("step", "global_norm", "clip_threshold",
                                                 "clipped")]
    check(layers, "grad_norms.csv has no per-layer columns")
    for column, tag in [("global_norm", "grad_norm/global"),
                        ("clip_threshold", "grad_clip/threshold"),
                        *((c, f"grad_norm/{c}") for c in layers)]:
        check([s for s, _ in grads.get(tag, [])] == steps, f"{tag} steps {grads.get(tag)}")
        check(close([v for _, v in grads[tag]], [float(r[column]) for r in norms]),
              f"{tag} != grad_norms.csv {column}")
    scale = [min(1.0, float(r["clip_threshold"]) / float(r["global_norm"])) for r in norms]
    check(close([v for _, v in grads["grad_clip/scale"]], scale), "grad_clip/scale")
    hist = accumulator("run/tb/gradients").Histograms("grad_norm/layers")
    check([h.step for h in hist] == steps, "grad_norm/layers histogram steps")
    for name in ("train", "validation", "gradients"):
        one_event_file(f"run/tb/{name}")
    print(f"PASS tensorboard train: {len(train)} train, {len(val)} validation, "
          f"{len(grads)} gradient tags at steps {steps} equal history.csv and grad_norms.csv")


def check_tune():
    from tensorboard.plugins.hparams import api_pb2, metadata

    run(TUNE_RUN, kill_at=(1, 2))
    rows = read_csv("search/trials.csv")
    check([r["status"] for r in rows][:1] == ["COMPLETED"],
          f"the kill should come in the second trial: {rows}")
    check([s for s, _ in scalars("search/tb/trial_1/train")["epoch_loss"]] == [0],
          "the killed trial should have written epoch 0's events")
    run(TUNE_RUN)  # the same command resumes the search in --out
    print("PASS tensorboard tune: killed in trial 2's epoch 1, resumed")

    rows = read_csv("search/trials.csv")
    check([r["status"] for r in rows] == ["COMPLETED", "COMPLETED"], f"trials.csv {rows}")
    check(float(rows[1]["resumed_from_epoch"]) == 1, "the killed trial should resume at "
          f"epoch 1, not restart: {rows[1]}")
    experiment = metadata.parse_experiment_plugin_data(
        next(iter(accumulator("search/tb").PluginTagToContent(metadata.PLUGIN_NAME).values())))
    groups = dashboard_groups("search/tb")
    check(sorted(groups) == [f"trial_{r['trial_id']}" for r in rows],
          f"the HParams dashboard lists {sorted(groups)}")
    for row in rows:
        trial_id = row["trial_id"]
        trial = json.loads(pathlib.Path(f"search/kt/trial_{trial_id}/trial.json").read_text())
        hparams = trial["hyperparameters"]["values"]
        check({h.name for h in experiment.hparam_infos} >= set(hparams),
              f"experiment's hparams {[h.name for h in experiment.hparam_infos]}")
        tb = pathlib.Path(f"search/tb/trial_{trial_id}")
        contents = accumulator(tb).PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            contents["_hparams_/session_start_info"])
        end = metadata.parse_session_end_info_plugin_data(contents["_hparams_/session_end_info"])
        check(end.status == api_pb2.STATUS_SUCCESS, f"trial {trial_id} session status {end}")
        got = {k: hparam_value(v) for k, v in start.hparams.items()}
        check(got == hparams, f"trial {trial_id} session hparams {got} != trial.json {hparams}")
        for name, value in hparams.items():  # and trials.csv's columns
            check(str(row[name]) == str(value), f"trials.csv {name}={row[name]} != {value}")
        group = groups[f"trial_{trial_id}"]
        check({k: hparam_value(v) for k, v in group.hparams.items()} == hparams,
              f"dashboard hparams of trial {trial_id}")
        metrics = {(m.name.group, m.name.tag): m.value for m in group.metric_values}
        score = float(row["score"])
        check(close([metrics[("", "objective")]], [score], 1e-6), f"objective {metrics}")

        curves = {r: scalars(tb / r) for r in ("train", "validation")}
        for run_name, tags in curves.items():
            for tag in ("epoch_loss", "epoch_accuracy"):
                check([s for s, _ in tags.get(tag, [])] == [0, 1],
                      f"trial {trial_id} {run_name}/{tag} steps {tags.get(tag)}")
            one_event_file(tb / run_name)
        val_loss = [v for _, v in curves["validation"]["epoch_loss"]]
        check(close([min(val_loss)], [score]), f"trial {trial_id}: score {score}, "
              f"val epoch_loss {val_loss}")
        check(close([metrics[("validation", "epoch_loss")]], [val_loss[-1]]),
              "the dashboard's validation epoch_loss")
        # the trial's logged metrics are its best epoch's (0-based): points of the curves
        best = int(trial["metrics"]["metrics"]["best_epoch"]["observations"][0]["value"][0])
        check(close([val_loss[best]], [score]), f"trial {trial_id}: best epoch {best}")
        for key, observed in trial["metrics"]["metrics"].items():
            if key.removeprefix("val_") in ("loss", "accuracy"):
                run_name = "validation" if key.startswith("val_") else "train"
                points = dict(curves[run_name]["epoch_" + key.removeprefix("val_")])
                check(close([points[best]], [observed["observations"][0]["value"][0]]),
                      f"trial {trial_id} {key}: {points} vs trial.json")
    print(f"PASS tensorboard tune: {len(rows)} trials' curves, sessions and the dashboard's "
          "groups equal trials.csv and trial.json")


def main():
    if sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[5:])
    os.chdir(sys.argv[1])
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        print("PASS tensorboard: tensorflow is not importable here")
    else:
        fail("tensorflow is importable; this check is for installs without it")
    write_data()
    check_train()
    check_tune()
    check("tensorflow" not in sys.modules, "something imported tensorflow")


if __name__ == "__main__":
    main()
