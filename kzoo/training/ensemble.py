"""`--ensemble N`: N members trained apart, one model averaging their probabilities.

A member is a normal run in `out/members/<i>` (i = 1..N; its own config.json,
checkpoints, exact resume, precise BN, summary and plots). Members share the data
split of `seed` and differ in `init_seed = seed + i - 1` (initialisation, dropout,
batch order), so member 1 is the plain single run of `seed`. A resumed ensemble
leaves finished members as they are and resumes the one a kill interrupted.

`out/model.keras` is a functional model of stock Keras layers around the members
(each a sub-model, then `keras.layers.Average`): it loads like any run's model,
with plain `keras.saving.load_model` where the members need no kzoo layer.
`out/summary.json` holds the ensemble's scores and a `members` list with each
member's.

The default comes from the family's recipe (`TrainRecipe.ensemble`): inception_time
and lite (LITETime) train the published 5 members while one member's estimated work,
training examples x series length x epochs, is at most `ensemble_max_work`.
"""

import pathlib
import time

import keras
import numpy as np

from kzoo import rundir as layout
from kzoo import zoo
from kzoo.runtime.errors import UsageError
from kzoo.training.config import RunResult
from kzoo.training.resume_plan import finished_result, is_finished, plan_resume

MEMBERS_DIR = "members"
# The fields a member does not take from the ensemble's config.
_OWN = ("model", "data", "backend", "ensemble", "init_seed", "out", "resume", "overwrite")


def wanted(config):
    """Whether `config` may train an ensemble (cheap: no data is read)."""
    if config.ensemble is not None:
        return config.ensemble > 1
    return zoo.get_spec(config.model).recipe.ensemble > 1


def member_dirs(run_dir):
    """The member run directories of an ensemble run, in order ([] for a single run)."""
    root = pathlib.Path(run_dir) / MEMBERS_DIR
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()),
                  key=lambda p: int(p.name))


def decide(config, prepared):
    """`(members, source, note)`: the user's `ensemble`, else the recipe's rule."""
    name = config.model
    if config.ensemble is not None:
        return config.ensemble, "user", f"--ensemble {config.ensemble}"
    recipe = zoo.get_spec(name).recipe
    x = prepared.train[0] if isinstance(prepared.train, tuple) else None
    if x is None:  # a stream: its size is unknown, so one network
        return 1, "recipe", f"{name}: one network (a streamed dataset's size is unknown)"
    n = len(x) + (len(prepared.val[0]) if isinstance(prepared.val, tuple) else 0)
    length = x.shape[1] if x.ndim > 2 else 1
    epochs = config.epochs if isinstance(config.epochs, int) else recipe.epochs
    work = n * length * epochs
    cite = recipe.source("ensemble")
    rule = (f"the estimated work of a member, {n} examples x length {length} x {epochs} "
            f"epochs = {work:.2g}, is {{}} the recipe's ensemble_max_work "
            f"{recipe.ensemble_max_work:.2g}")
    if work <= recipe.ensemble_max_work:
        return recipe.ensemble, "recipe", (
            f"{name}: ensemble of {recipe.ensemble} ({cite}) because {rule.format('within')}; "
            "--ensemble 1 trains one network.")
    return 1, "recipe", (
        f"{name}: one network, not the {recipe.ensemble}-member ensemble ({cite}), because "
        f"{rule.format('above')}; --ensemble {recipe.ensemble} trains it.")


def train_ensemble(config, data, train_member, *, callbacks=None, val_data=None,
                   test_data=None, num_classes=None, task=None):
    """Train (or resume) the ensemble `config` asks for; None when it is one network.

    Called by `runner.train` after `validate_config`, which passes itself as
    `train_member` (each member is a run of its own); returns the ensemble's RunResult.
    """
    from kzoo.training.inputs import prepare_data

    run_dir, _ = layout.check_out(config.out, "train", overwrite=config.overwrite,
                                  resume=config.resume)
    stored = None
    if config.resume:
        record = layout.read_json_object(run_dir / layout.CONFIG_FILE)
        stored = ((record.get("resolved") or {}).get("ensemble") or {}).get("value")
        if not isinstance(stored, int) or stored < 2:
            return None  # a single run (or one recorded before ensembles)
    prepared = prepare_data(data, seed=config.seed, val_data=val_data, test_data=test_data,
                            num_classes=num_classes, task=task)
    zoo.check_model_fits_data(config.model, prepared)
    if stored is not None:
        n, source, note = stored, "config.json", f"{config.model}: resuming an ensemble of {stored}"
    else:
        n, source, note = decide(config, prepared)
    if config.verbose != 0:
        print(note, flush=True)
    if n == 1:
        return None
    if run_dir is None:  # nothing written: members train in memory
        results = [_member(train_member, config, data, i, None, False, callbacks, val_data,
                           test_data, num_classes, task) for i in range(1, n + 1)]
        return _finish(config, prepared, results, None, (n, source, note))
    lock = layout.claim(run_dir, "train", overwrite=config.overwrite, resume=config.resume,
                        fresh=not config.resume)
    try:
        if not config.resume:
            layout.write_json(run_dir / layout.CONFIG_FILE, {
                **config.to_json(), "resume": False, "overwrite": False,
                "resolved": {"ensemble": {"value": n, "source": source, "note": note},
                             "member_seeds": {"value": [config.seed + i for i in range(n)],
                                              "source": "kzoo", "note": "init_seed = seed + i"}},
            })
        results = [_member(train_member, config, data, i, run_dir, config.resume, callbacks,
                           val_data, test_data, num_classes, task) for i in range(1, n + 1)]
        return _finish(config, prepared, results, run_dir, (n, source, note))
    finally:
        lock.release()


def _member(train_member, config, data, i, run_dir, resuming, callbacks, val_data, test_data,
            num_classes, task):
    """Train, resume or read back member `i` (1-based)."""
    settings = {k: v for k, v in config.to_json().items() if k not in _OWN}
    settings.update(ensemble=1, init_seed=config.seed + i - 1)
    where = None if run_dir is None else run_dir / MEMBERS_DIR / str(i)
    if config.verbose != 0:
        print(f"ensemble member {i}: init_seed {config.seed + i - 1}"
              + (f", {where}" if where else ""), flush=True)
    kwargs = dict(callbacks=callbacks, val_data=val_data, test_data=test_data,
                  num_classes=num_classes, task=task)
    if where is not None and resuming and (where / layout.CONFIG_FILE).is_file():
        own = layout.read_json_object(where / layout.CONFIG_FILE).get("epochs")
        extend = settings["epochs"] if settings["epochs"] != own else None
        if isinstance(data, str):  # its own config.json: `auto` values, extension, finish
            planned = plan_resume(where, verbose=config.verbose, epochs=extend)
            if isinstance(planned, RunResult):
                return planned
            model, member_data, saved = planned
            return train_member(model, member_data, **saved, **kwargs)
        if is_finished(where) and extend is None:
            return finished_result(where, 0)
        return train_member(config.model, data, **{**settings, "out": str(where),
                                                   "resume": True}, **kwargs)
    if where is not None:
        where.parent.mkdir(parents=True, exist_ok=True)
        # Killed before its config.json: the member is kzoo's own, so it starts over.
        fresh = not (where.is_dir() and any(where.iterdir()))
        settings.update(out=str(where), overwrite=not fresh)
    return train_member(config.model, data, **settings, **kwargs)


def build(models, name="ensemble"):
    """A functional model of stock Keras layers averaging `models`' outputs.

    Each member enters as an uncompiled copy named `member_<i>` (unique layer
    names; no member optimizer in the saved file).
    """
    shapes = {tuple(m.input_shape[1:]) for m in models}
    if len(shapes) != 1:
        raise UsageError(f"The members' input shapes differ: {sorted(shapes, key=str)}.")
    inputs = keras.Input(shape=shapes.pop(), name="input")
    copies = []
    for i, model in enumerate(models, 1):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        copy.name = f"member_{i}"
        copies.append(copy)
    outputs = [c(inputs) for c in copies]
    mean = keras.layers.Average(dtype="float32", name="mean_probability")(outputs)
    return keras.Model(inputs, mean, name=name)


def scores(net, members, split, task, batch_size):
    """`{loss, accuracy | mae}` of the ensemble `net` on a split (arrays or a stream).
    Arrays are scored from each member's predictions in turn, so scoring holds one
    member's activations, not N at once (5 MiniRockets on PigCVP's test split asked
    for 83 GB through `net.evaluate`)."""
    if split is None:
        return {}
    if not isinstance(split, tuple):
        result = net.evaluate(split, verbose=0, return_dict=True)
        keep = ("loss", "mae") if task == "regression" else ("loss", "accuracy")
        return {k: float(v) for k, v in result.items() if k in keep}
    x, y = split
    mean = sum(np.asarray(m.predict(x, batch_size=batch_size, verbose=0), "float64")
               for m in members) / len(members)
    y = np.asarray(y)
    if task == "regression":
        err = mean.reshape(y.shape) - y
        return {"loss": float(np.mean(err ** 2)), "mae": float(np.mean(np.abs(err)))}
    p = np.clip(mean, 1e-7, 1 - 1e-7)  # Keras' epsilon in its crossentropies
    if task == "multiclass":
        p = p / p.sum(axis=-1, keepdims=True)
        labels = y.astype(int).reshape(-1)
        loss = -np.mean(np.log(p[np.arange(len(labels)), labels]))
        return {"loss": float(loss), "accuracy": float(np.mean(p.argmax(-1) == labels))}
    y = y.reshape(p.shape).astype("float64")  # binary, multilabel: sigmoid outputs
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return {"loss": float(loss), "accuracy": float(np.mean((mean > 0.5) == (y > 0.5)))}


def _finish(config, prepared, results, run_dir, decision):
    """The ensemble model, its scores and each member's, written into `run_dir`."""
    from kzoo.training.results import write_results

    n, source, note = decision
    start = time.perf_counter()
    net = build([r.model for r in results], name=f"{config.model}_ensemble")
    zoo.compile_for_head(net, prepared.task)
    net.optimizer.build(net.trainable_variables)  # loads compiled, without a warning
    batch = 256
    # The validation split scores the ensemble only where no member trained on it.
    holdout = (results[0].summary.get("selection") or {}).get("protocol") == "holdout"
    models = [r.model for r in results]
    test, val = (scores(net, models, prepared.test, prepared.task, batch),
                 scores(net, models, prepared.val if holdout else None, prepared.task, batch))
    members = []
    for i, r in enumerate(results, 1):
        s = r.summary
        members.append({
            "member": i, "init_seed": config.seed + i - 1,
            "run_dir": None if r.run_dir is None else f"{MEMBERS_DIR}/{i}",
            **{k: s.get(k) for k in ("test_accuracy", "test_loss", "test_mae", "test_mse",
                                     "final_val_accuracy", "final_val_loss", "epochs_run",
                                     "selected_epoch", "wall_time_s",
                                     "status") if s.get(k) is not None}})
    first = results[0].summary
    summary = {
        "model": config.model, "data": prepared.name, "task": prepared.task,
        "backend": keras.backend.backend(), "params": int(net.count_params()),
        "ensemble": {"members": n, "source": source, "note": note,
                     "combination": "mean of the members' probabilities"},
        "seed": config.seed, "epochs_run": first.get("epochs_run"),
        "wall_time_s": round(sum(m.get("wall_time_s") or 0 for m in members)
                             + time.perf_counter() - start, 3),
        "has_test": prepared.test is not None,
    }
    for key, value in test.items():
        summary[f"test_{key}"] = value
    if prepared.task == "regression" and "loss" in test:
        summary["test_mse"] = test["loss"]  # the regression head's loss is the MSE
    for key, value in val.items():
        summary[f"final_val_{key}"] = value
    accuracies = [m["test_accuracy"] for m in members if "test_accuracy" in m]
    if accuracies:
        summary["members_test_accuracy"] = {
            "mean": float(np.mean(accuracies)), "min": float(np.min(accuracies)),
            "max": float(np.max(accuracies))}
    findings = [{**f, "message": f"member {i}: {f['message']}"}
                for i, r in enumerate(results, 1) for f in r.summary.get("diagnosis") or ()]
    summary.update(members=members, diagnosis=findings, keras_version=keras.__version__)
    if run_dir is not None:
        write_results(net, summary, run_dir)
    history = {f"member_{i}": r.history for i, r in enumerate(results, 1)}
    return RunResult(net, history, summary, run_dir)
