"""`kzoo combine RUN RUN ... --out DIR`: finished runs of any families averaged into
one model.

`--ensemble N` averages N networks of one family. Families that see a series
differently make mistakes on different series, and their average can beat every
family's own ensemble (PigCVP: MiniRocket x5 and LITETime, RESULTS.md "Combining
families"). `combine` takes two or more finished runs (single, `--ensemble N` or an
earlier combination), checks that they were trained on the same data with the same
split, and writes one run directory:

    combine.json    the runs it averages (absolute paths) and what they agree on
    model.keras     stock Keras layers around the runs' models (`ensemble.build`):
                    each run's model enters once, so a 5-member ensemble weighs as
                    much as a single network, then `keras.layers.Average`
    summary.json    the combination's test scores and each run's own

Nothing of the runs is changed: they are read, never written. The validation split
chose each run's epochs, so only the test split scores the combination. Runs trained
on arrays (`kzoo.train((x, y), ...)`) record no loadable data; pass the same `data`
(and `test_data`) to `combine` as to `kzoo.train`.
"""

import os
import pathlib
import time

import keras

from kzoo import datasets, zoo
from kzoo import rundir as layout
from kzoo.runtime.errors import RunDirError, UsageError
from kzoo.training.config import RunResult
from kzoo.training.ensemble import build, scores

_KINDS = ("train", "combine")


def combine(runs, out=None, *, overwrite=False, data=None, val_data=None, test_data=None,
            verbose="auto"):
    """Average the probabilities of finished runs' models into one model.

    Args:
        runs: two or more run directories of `kzoo train` (single or ensemble) or
            `kzoo combine`, trained on the same data with the same `seed` (split).
        out: the new run directory (None: nothing is written).
        overwrite: replace an earlier `kzoo combine` directory at `out`.
        data, val_data, test_data: the data the runs trained on, for runs given arrays
            (their config.json records no dataset to load); else read from the runs.
        verbose: 0 prints nothing.

    Returns:
        A `RunResult` (model, empty history, summary, run directory).
    """
    sources = [_read_run(p) for p in _distinct(runs)]
    spec, seed, task = _agreement(sources, data)
    if out is not None and any(os.path.realpath(out) == os.path.realpath(s["path"])
                               for s in sources):
        raise UsageError(f"--out {out} is one of the runs to combine; choose a new directory.")
    run_dir, _ = layout.check_out(out, "combine", overwrite=overwrite)
    from kzoo.training.inputs import prepare_data
    from kzoo.training.results import write_results

    start = time.perf_counter()
    prepared = prepare_data(spec if data is None else data, seed=seed, val_data=val_data,
                            test_data=test_data)
    if prepared.task != task:
        raise UsageError(f"The runs are {task} runs but the data given is {prepared.task}; "
                         "pass the data the runs trained on.")
    if prepared.test is None:
        raise UsageError(f"{prepared.name} has no test split to score the combination on; "
                         "pass test_data=(x, y).")
    models = [zoo.load_model_safely(s["path"] / layout.MODEL_FILE) for s in sources]
    outputs = {tuple(m.output_shape[1:]) for m in models}
    if len(outputs) != 1:
        raise UsageError("The runs' models give outputs of different shapes "
                         f"({', '.join(str(o) for o in sorted(outputs))}): they do not predict "
                         "the same classes. Combine runs of one dataset and task.")
    names = [s["summary"].get("model", "?") for s in sources]
    net = build(models, name="combined")
    zoo.compile_for_head(net, task)
    net.optimizer.build(net.trainable_variables)  # loads compiled, without a warning
    test = scores(net, models, prepared.test, task, 256)
    runs_out = []
    for i, s in enumerate(sources, 1):
        own = s["summary"]
        runs_out.append({"member": i, "run_dir": str(s["path"]), "model": own.get("model"),
                         **{k: own[k] for k in ("test_accuracy", "test_loss", "test_mae",
                                                "test_mse", "wall_time_s")
                            if own.get(k) is not None},
                         **({"ensemble": own["ensemble"]["members"]}
                            if isinstance(own.get("ensemble"), dict) else {})})
    summary = {
        "model": "+".join(names), "data": prepared.name, "task": task,
        "backend": keras.backend.backend(), "params": int(net.count_params()), "seed": seed,
        "ensemble": {"members": len(sources), "source": "kzoo combine",
                     "combination": "mean of the runs' probabilities, one weight per run"},
        "wall_time_s": round(sum(r.get("wall_time_s") or 0 for r in runs_out)
                             + time.perf_counter() - start, 3),
        "has_test": True,
        **{f"test_{k}": v for k, v in test.items()},
        "members": runs_out,
        "diagnosis": [{**f, "message": f"{s['path'].name}: {f['message']}"}
                      for s in sources for f in s["summary"].get("diagnosis") or ()
                      if isinstance(f, dict) and "message" in f],
        "keras_version": keras.__version__,
    }
    if task == "regression" and "loss" in test:
        summary["test_mse"] = test["loss"]
    if run_dir is not None:
        with layout.claim(run_dir, "combine", overwrite=overwrite):
            layout.write_json(run_dir / layout.COMBINE_FILE, {
                "runs": [str(s["path"]) for s in sources], "data": spec, "seed": seed,
                "task": task})
            write_results(net, summary, run_dir)
    if verbose != 0:
        for r in runs_out:
            score = r.get("test_accuracy", r.get("test_mae"))
            print(f"  {r['run_dir']} ({r['model']}): test "
                  f"{'accuracy' if 'test_accuracy' in r else 'mae'} {score:.4g}", flush=True)
        key = "accuracy" if "accuracy" in test else "mae"
        print(f"combined {len(sources)} runs: test {key} {test[key]:.4g}"
              + (f"; wrote {run_dir}" if run_dir is not None else ""), flush=True)
    return RunResult(net, {}, summary, run_dir)


def _distinct(runs):
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs]
    paths = [pathlib.Path(r).absolute() for r in runs]
    if len(paths) < 2:
        raise UsageError(f"kzoo combine averages two or more runs; got {len(paths)}. Pass "
                         "the run directories of kzoo train to combine.")
    seen = {}
    for p in paths:
        real = os.path.realpath(p)
        if real in seen:
            raise UsageError(f"{p} is given twice (as {seen[real]} too); a run enters a "
                             "combination once. Drop one.")
        seen[real] = p
    return paths


def _read_run(path):
    """A finished run's path, its data spec, seed and summary (keras-free)."""
    kind = layout.run_kind(path)
    if kind not in _KINDS:
        what = "does not exist" if not path.exists() else (
            f"is a kzoo {kind} directory" if kind else "is not a kzoo run")
        raise RunDirError(f"{path} {what}; kzoo combine takes the --out directories of kzoo "
                          "train (or kzoo combine).")
    summary_path = path / layout.SUMMARY_FILE
    summary = layout.read_json_object(summary_path) if summary_path.is_file() else {}
    if summary.get("status") != "completed" or not (path / layout.MODEL_FILE).is_file():
        raise RunDirError(f"{path} is not finished (no completed summary.json and "
                          f"model.keras); finish it first with kzoo train --resume {path}.")
    record = layout.read_json_object(path / (layout.CONFIG_FILE if kind == "train"
                                             else layout.COMBINE_FILE))
    return {"path": path, "data": record.get("data"), "seed": record.get("seed"),
            "summary": summary}


def _agreement(sources, data):
    """`(data spec, seed, task)` the runs share; a UsageError naming the two runs that
    differ otherwise (a different split could put one run's training series in
    another's test split)."""
    first = sources[0]
    for key, what in (("data", "data"), ("seed", "split seed (--seed)")):
        for s in sources[1:]:
            if s[key] != first[key]:
                raise UsageError(
                    f"{first['path']} and {s['path']} were trained on different {what} "
                    f"({first[key]!r} and {s[key]!r}): their splits differ, so one run's "
                    "training series could be in the other's test split. Combine runs "
                    "trained with the same --data and --seed.")
    tasks = {s["summary"].get("task") for s in sources}
    if len(tasks) != 1:
        raise UsageError(f"The runs solve different tasks ({', '.join(map(str, tasks))}); "
                         "combine runs of one dataset.")
    spec = first["data"]
    if data is None and not _loadable(spec):
        raise UsageError(f"{first['path']} was trained on data given in memory ({spec!r}), "
                         "which its config.json cannot reload: pass the same data (and "
                         "test_data) to kzoo.combine as to kzoo.train.")
    return spec, first["seed"], tasks.pop()


def _loadable(spec):
    """Whether a recorded data spec names a dataset or a file (not a type name)."""
    if not isinstance(spec, str):
        return False
    name = spec.partition(":")[0]
    return name in datasets.list_datasets() or any(c in spec for c in "./\\")
