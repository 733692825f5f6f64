"""`kzoo tune --model auto --budget 10m`: the family is a searched hyperparameter.

Each trial is a family with hyperparameters: first every family that fits the data at
its defaults (cheapest first), then random draws from each family's KerasTuner space,
round-robin. A trial scores by stratified k-fold cross-validation on a tiny training
set (fewer than the recipe's `tiny_threshold` examples: k = min(5, the smallest
class's count), each fold trained on the other folds and scored on its held-out
fold), else on the validation split. No trial starts once the time left is below the
estimated cost of the final training, so the search ends within the budget plus one
trial. The final model trains the best trial's configuration on the whole training
split through `kzoo.train` (ensembled where the family's recipe says so, with fewer
members when the budget left holds fewer), into `out/final`.

Files: `tune_config.json` (the settings), `trials.csv` (one row per trial),
`best.json` (the chosen configuration and its scores), `final/` (a run directory).
"""

import csv
import json
import pathlib
import random
import re
import time

import numpy as np

from kzoo import rundir as layout
from kzoo import zoo
from kzoo.runtime.errors import DataError, UsageError

# Cheapest first (measured train seconds per run, benchmarks/RESULTS.md issue 28).
SEQUENCE_FAMILIES = ("minirocket", "lite", "fcn", "resnet1d", "inception_time")
TABULAR_FAMILIES = ("mlp",)
FINAL_DIR = "final"


def parse_budget(text):
    """Seconds of `90s`, `10m`, `1.5h` or a plain number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--budget takes a duration like 90s, 10m or 1h, got {text!r}.")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _clock(seconds):
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def candidates(prepared, families=None):
    """The families that fit `prepared` (sequence or tabular), cheapest first."""
    kind = "sequence" if prepared.train[0].ndim == 3 else "tabular"
    names = families or (SEQUENCE_FAMILIES if kind == "sequence" else TABULAR_FAMILIES)
    fitting = []
    for name in names:
        try:
            zoo.check_model_fits_data(name, prepared)
        except ValueError:
            continue
        fitting.append(name)
    if not fitting:
        raise UsageError(f"No family of {', '.join(names)} fits {prepared.name}; pass "
                         "--model NAME for a family of your choice.")
    return fitting


def folds(y, k_max, threshold, seed):
    """`(k, [(train_idx, held_idx), ...])` of stratified k-fold, or `(0, [])` for data
    at or above `threshold` examples (the validation split scores them)."""
    from sklearn.model_selection import StratifiedKFold

    if len(y) >= threshold:
        return 0, []
    counts = np.bincount(np.asarray(y).astype(int))
    smallest = int(counts[counts > 0].min())
    k = max(2, min(k_max, smallest))
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return k, list(split.split(np.zeros(len(y)), y))


def _draw(family, rng):
    """Random hyperparameters from the family's KerasTuner space."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    zoo.get_spec(family).space(hp)
    return {h.name: h.random_sample(rng.randrange(2**31)) for h in hp.space}


def tune_auto(data, *, out, budget="10m", seed=0, epochs=None, families=None, k_max=5,
              overwrite=False, verbose=1, stream=None):
    """Search the family and its hyperparameters within `budget`, then train the best.

    Args:
        data: as for `kzoo.train` (a spec, a file, a Dataset, `(x, y)`).
        out: the search directory.
        budget: seconds, or a duration text (`"10m"`).
        seed: seeds the split, the folds, the draws and every trial.
        epochs: epochs of every trial and of the final training (None: each
            family's recipe budget).
        families: the families searched (default: every one that fits the data).
        k_max: the most folds of the cross-validation.

    Returns:
        A dict: `best` (family, hparams, score), `trials`, `final` (the RunResult).
    """
    import kzoo
    from kzoo.training.inputs import prepare_data

    total = parse_budget(budget) if isinstance(budget, str) else float(budget)
    start = time.monotonic()
    out = pathlib.Path(out)
    layout.check_out(out, "tune", overwrite=overwrite)
    prepared = prepare_data(data, seed=seed)
    if prepared.task not in ("multiclass", "binary") or not isinstance(prepared.train, tuple):
        raise UsageError("--model auto searches classifiers on array data; pass --model NAME "
                         "for regression or streamed data.")
    names = candidates(prepared, families)
    x, y = prepared.train
    if isinstance(prepared.val, tuple):  # the tiny protocol fits them together anyway
        x, y = np.concatenate([x, prepared.val[0]]), np.concatenate([y, prepared.val[1]])
    threshold = min(zoo.get_spec(n).recipe.tiny_threshold for n in names)
    k, splits = folds(y, k_max, threshold, seed)
    say = (lambda text: print(text, file=stream, flush=True)) if verbose else (lambda t: None)
    lock = layout.claim(out, "tune", overwrite=overwrite)
    try:
        layout.write_json(out / "tune_config.json", {
            "model": "auto", "data": data if isinstance(data, str) else type(data).__name__,
            "budget_s": total, "seed": seed, "epochs": epochs, "families": names,
            "selection": f"stratified {k}-fold cross-validation" if k else "validation split"})
        say(f"auto: {len(names)} families ({', '.join(names)}), "
            f"{f'stratified {k}-fold CV ({len(y)} examples)' if k else 'validation split'}, "
            f"budget {_clock(total)}")
        trials, cost = _search(names, prepared, x, y, splits, epochs, seed, total, start,
                               out, say)
        if not trials:
            raise UsageError(f"Every trial failed within the budget ({_clock(total)}); the "
                             "lines above say why. Pass --model NAME, or a larger --budget.")
        best = max((t for t in trials if not t.get("cut")),
                   key=lambda t: (t["score"], -t["seconds"]))
        final = _final(best, data, out, seed, epochs, total - (time.monotonic() - start),
                       cost.get(best["family"], 0.0), say, kzoo)
        record = {"best": {k2: best[k2] for k2 in ("family", "hparams", "score")},
                  "trials": len(trials), "elapsed_s": round(time.monotonic() - start, 1),
                  "budget_s": total, "final": {k2: final.summary.get(k2) for k2 in (
                      "test_accuracy", "ensemble", "wall_time_s")}}
        layout.write_json(out / "best.json", record)
    finally:
        lock.release()
    say(f"auto: chose {best['family']} {best['hparams']} (CV {best['score']:.4f}); final "
        f"test_accuracy {final.summary.get('test_accuracy')}; {_clock(record['elapsed_s'])} "
        f"of {_clock(total)}")
    return {"best": best, "trials": trials, "final": final, "out": out}


def _search(names, prepared, x, y, splits, epochs, seed, total, start, out, say):
    """Trials until the budget left no longer covers the final training's estimate."""
    import kzoo

    rng = random.Random(seed)
    trials, cost = [], {}  # cost: a family's seconds for one fit on the whole split
    failures, spent, first_error = 0, {}, None  # spent: a family's last trial, in seconds
    queue = [(n, {}) for n in names]
    while True:
        if not queue:
            queue = [(n, _draw(n, rng)) for n in names]
        family, hparams = queue.pop(0)
        left = total - (time.monotonic() - start)
        if trials:  # keep one member of the best's final training, and this trial's time
            top = max(trials, key=lambda t: t["score"])["family"]
            if left < cost[top] + spent.get(family, 0.0):
                break
        if left <= 0 and (trials or failures >= len(names)):
            break
        began, scores = time.monotonic(), []
        parts = splits or [(None, None)]
        # Once a trial has finished, a later one stops when the budget, less the best's
        # final training, is spent (a slow family on long series would otherwise overrun
        # it by a whole trial); the first always finishes, so there is a candidate.
        reserve = cost[max(trials, key=lambda t: t["score"])["family"]] if trials else 0.0
        deadline = _deadline(start + total - reserve if trials else float("inf"))
        for i, (fit_idx, held_idx) in enumerate(parts, 1):
            settings = dict(seed=seed, verbose=0, ensemble=1, hparams=hparams,
                            callbacks=[deadline], **({"epochs": epochs} if epochs else {}))
            try:
                if fit_idx is None:  # the validation split scores the trial
                    result = kzoo.train(family, (x, y), val_data=prepared.val,
                                        test_data=prepared.val, **settings)
                else:  # the fold trains whole (tiny protocol), scored on the held fold
                    result = kzoo.train(family, (x[fit_idx], y[fit_idx]), val_data=False,
                                        test_data=(x[held_idx], y[held_idx]), **settings)
            except (UsageError, DataError) as err:  # kzoo's own checks: a draw the data refuses
                say(f"auto: {family} {hparams} failed: {str(err).splitlines()[0]}")
                failures += 1
                if not trials and failures >= len(names):  # every family's defaults refused
                    raise type(err)(f"--model auto: every family refused the data; the first "
                                    f"said: {first_error or err}") from None
                first_error = first_error or err
                scores = []
                break
            scores.append(result.summary.get("test_accuracy") or 0.0)
            left = total - (time.monotonic() - start)
            say(f"auto: trial {len(trials) + 1} {family} fold {i}/{len(parts)} "
                f"accuracy {scores[-1]:.4f}{' (cut at the budget)' if deadline.cut else ''} "
                f"| budget left {_clock(left)}")
            if deadline.cut:
                break
        seconds = time.monotonic() - began
        if not scores:
            continue
        if deadline.cut:  # an unfinished trial's score is not comparable: not a candidate
            trials.append({"trial": len(trials) + 1, "family": family, "hparams": hparams,
                           "score": float(np.mean(scores)), "folds": scores,
                           "seconds": round(seconds, 1), "cut": True})
            _write_trials(out, trials)
            say(f"auto: trial {len(trials)} {family} cut at the budget: not a candidate")
            break
        whole = seconds / len(parts) * (len(parts) / max(len(parts) - 1, 1))
        cost[family] = max(cost.get(family, 0.0), whole)
        spent[family] = seconds
        trials.append({"trial": len(trials) + 1, "family": family, "hparams": hparams,
                       "score": float(np.mean(scores)), "folds": scores,
                       "seconds": round(seconds, 1)})
        _write_trials(out, trials)
        best = max(t["score"] for t in trials)
        say(f"auto: trial {len(trials)} {family} mean {trials[-1]['score']:.4f} (best "
            f"{best:.4f}) | budget left {_clock(total - (time.monotonic() - start))}")
    return trials, cost


def _deadline(at):
    """A Keras callback that stops training at `at` (time.monotonic()); `.cut` says it
    did. Built on call: this module imports no Keras (the CLI's parser loads it)."""
    import keras

    class Deadline(keras.callbacks.Callback):
        cut = False

        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() >= at:
                self.cut = True
                self.model.stop_training = True

    return Deadline()


def _write_trials(out, trials):
    path = out / "trials.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", "family", "hparams", "score", "folds", "seconds", "cut"])
        for t in trials:
            writer.writerow([t["trial"], t["family"], json.dumps(t["hparams"]), t["score"],
                             " ".join(f"{s:.4f}" for s in t["folds"]), t["seconds"],
                             int(t.get("cut", False))])


def _final(best, data, out, seed, epochs, left, cost, say, kzoo):
    """The best configuration on the whole training split, ensembled as the recipe says
    while the budget left holds the members (estimated from the trials)."""
    family = best["family"]
    recipe = zoo.get_spec(family).recipe
    members = None  # the recipe's rule
    if recipe.ensemble > 1 and cost > 0:
        fit = max(1, min(recipe.ensemble, int(left // cost)))
        if fit < recipe.ensemble:
            members = fit
            say(f"auto: {family}'s recipe ensembles {recipe.ensemble} members; the budget left "
                f"({_clock(left)}, ~{_clock(cost)} a member) holds {fit}")
    say(f"auto: training {family} {best['hparams']} on the whole training split | budget "
        f"left {_clock(left)}")
    return kzoo.train(family, data, seed=seed, hparams=best["hparams"], ensemble=members,
                      out=str(out / FINAL_DIR), overwrite=(out / FINAL_DIR).exists(),
                      verbose=0, **({"epochs": epochs} if epochs else {}))
