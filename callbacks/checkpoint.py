"""`Checkpoint`: crash-safe full-state checkpoints that resume a run exactly.

A checkpoint file (`step-00000123.ckpt`) is a NumPy `.npz` archive read with
`allow_pickle=False`, so loading one never runs code. It holds every model
variable (weights and the dropout `SeedGenerator` states), every optimizer
variable (moments, the step counter that drives LR schedules), the metrics'
running sums within the current epoch, EarlyStopping's best weights, and a
JSON record: epoch, step within the epoch, global step, the history so far,
the callbacks' states, NumPy/Python RNG states and the monitored score.

Writes are atomic: a temporary file in the same directory, flushed and
fsynced, then renamed over its final name, then the directory fsynced; a
`manifest.json` (written the same way) lists each file with its SHA-256. A
kill at any moment leaves the previous checkpoints intact; a truncated or
corrupt file is detected on restore, with a warning, and the previous one used.
"""

import hashlib
import io
import json
import os
import pathlib
import random
import re
import tempfile
import time
import warnings

import keras
import numpy as np

from kzoo.callbacks._monitor import MonitorCallback

FORMAT = 1
BEST_WEIGHTS = "best_weights"
MANIFEST = "manifest.json"
_NAME = re.compile(r"^step-(\d{8,})\.ckpt$")


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (permissions, full disk).

    The training state in memory is intact: save it elsewhere with
    `checkpoint.save(model, directory=...)`.
    """


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, before_rename=None):
    """Write `data` (bytes) to `path` atomically: tmp file, fsync, rename."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            if before_rename is not None:
                before_rename(path)  # test hook: a kill here must leave no trace
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _to_numpy(v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def _check_writable(directory):
    directory = pathlib.Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(
            f"Checkpoint directory {str(directory)!r} is not writable ({err}). Choose "
            "another directory or fix its permissions."
        ) from None


def _callback_key(i, cb):
    return f"{i}:{type(cb).__name__}"


def _callback_state(cb):
    """JSON-able state of `cb` (None if it has none); EarlyStopping's best weights
    stay arrays, which `save` writes beside the model's (see _split_weights)."""
    if hasattr(cb, "get_state"):
        return _plain(cb.get_state())
    # Keras' own stateful callbacks have no get_state: save their counters.
    if isinstance(cb, keras.callbacks.EarlyStopping):
        names = ("wait", "best", "stopped_epoch", "best_epoch")
    elif isinstance(cb, keras.callbacks.ReduceLROnPlateau):
        names = ("wait", "best", "cooldown_counter")
    else:
        return None
    state = {n: _plain(getattr(cb, n, None)) for n in names}
    if isinstance(cb, keras.callbacks.EarlyStopping) and cb.best_weights is not None:
        state[BEST_WEIGHTS] = list(cb.best_weights)
    return state


def _split_weights(states):
    """JSON-able callback states and the arrays they hold (EarlyStopping's best
    weights), named `c<callback index>w<weight index>` in the checkpoint file."""
    plain, arrays = {}, {}
    for key, state in states.items():
        weights = state.get(BEST_WEIGHTS) if isinstance(state, dict) else None
        if weights is not None:
            index = key.split(":", 1)[0]
            arrays.update({f"c{index}w{j}": np.asarray(w) for j, w in enumerate(weights)})
            state = {**state, BEST_WEIGHTS: {"arrays": len(weights)}}
        plain[key] = state
    return plain, arrays


def _join_weights(states, arrays):
    """Inverse of `_split_weights` for a loaded checkpoint."""
    joined = {}
    for key, state in states.items():
        saved = state.get(BEST_WEIGHTS) if isinstance(state, dict) else None
        if isinstance(saved, dict):
            index = key.split(":", 1)[0]
            weights = [arrays[f"c{index}w{j}"] for j in range(saved["arrays"])]
            state = {**state, BEST_WEIGHTS: weights}
        joined[key] = state
    return joined


def _set_callback_state(cb, state):
    if hasattr(cb, "set_state"):
        cb.set_state(state)
    else:
        for name, value in state.items():
            setattr(cb, name, value)


def _plain(value):
    """A JSON-able Python value (numbers from backend tensors, inf kept)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    arr = _to_numpy(value)
    return arr.item() if arr.ndim == 0 else arr.tolist()


class Checkpoint(MonitorCallback):
    """Save the full training state, atomically; keep the best k and the last.

    Used with `kzoo.resume.fit_resumable` it resumes mid-epoch and exactly;
    with a plain `model.fit` it still saves (and `restore` works), but Keras'
    own shuffling then makes the resumed batch order differ.

    Args:
        directory: where the checkpoints and `manifest.json` go; created if needed,
            and checked for write access here, before any training.
        monitor: metric that ranks checkpoints for `save_best_k`. Defaults to
            `"val_loss"` (falls back to `"loss"` when there is no validation).
        mode: `"min"`, `"max"` or `"auto"` (max for accuracy/AUC). Defaults to `"auto"`.
        save_best_k: number of best end-of-epoch checkpoints kept. Defaults to `1`.
        keep_last: number of most recent checkpoints kept (at least 2 lets a
            corrupt latest file fall back to the previous one). Defaults to `2`.
        every_n_epochs: save at the end of every n-th epoch. Defaults to `1`.
        every_n_steps: also save every n optimizer steps (mid-epoch). Defaults
            to `None`.
        keep_every_n_epochs: keep (never prune) the checkpoint of every n-th
            epoch. Defaults to `None`.
        async_write: write files in a background thread (the state is copied
            first, so training goes on meanwhile); an error surfaces at the next
            save or at the end of training. Defaults to `False`.
        verbose: print a line per save. Defaults to `0`.

    Example:

    >>> ckpt = Checkpoint("runs/a/checkpoints", every_n_steps=100, save_best_k=3)
    >>> history = kzoo.resume.fit_resumable(model, x, y, epochs=20, batch_size=32,
    ...                                     checkpoint=ckpt)
    """

    def __init__(
        self,
        directory,
        monitor="val_loss",
        mode="auto",
        save_best_k=1,
        keep_last=2,
        every_n_epochs=1,
        every_n_steps=None,
        keep_every_n_epochs=None,
        async_write=False,
        verbose=0,
    ):
        super().__init__(monitor=monitor, mode=mode)
        for name, value, low in (
            ("save_best_k", save_best_k, 0),
            ("keep_last", keep_last, 1),
            ("every_n_epochs", every_n_epochs, 1),
            ("every_n_steps", every_n_steps, 1),
            ("keep_every_n_epochs", keep_every_n_epochs, 1),
        ):
            if value is None and name in ("every_n_epochs", "every_n_steps", "keep_every_n_epochs"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
        _check_writable(directory)
        self.directory = str(directory)
        self.save_best_k = save_best_k
        self.keep_last = keep_last
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.keep_every_n_epochs = keep_every_n_epochs
        self.async_write = async_write
        self.verbose = verbose
        self._pool = None
        self._pending_write = None
        self.tracked = []
        self.steps_per_epoch = None
        self.seed = None
        self.global_step = 0
        self.history = {}
        self._pending_states = None
        self._before_rename = None  # test hook, see atomic_write
        self._torch_rng = None
        self.last_saved = None
        self._pending_metrics = None

    # ------------------------------------------------------------------ wiring

    def track(self, callbacks, steps_per_epoch=None, seed=None):
        """Callbacks whose state is saved, and the epoch length in steps."""
        self.tracked = [c for c in callbacks if c is not self]
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed

    def on_train_begin(self, logs=None):
        if self.steps_per_epoch is None:
            self.steps_per_epoch = self.params.get("steps")
        # The other callbacks reset themselves in their on_train_begin, which
        # ran before this one (Checkpoint goes last): put the saved state back.
        if self._pending_states:
            for i, cb in enumerate(self.tracked):
                state = self._pending_states.get(_callback_key(i, cb))
                if state is not None:
                    _set_callback_state(cb, state)
        self._pending_states = None
        if keras.backend.backend() == "torch" and self._torch_rng is None:
            import torch

            self._torch_rng = torch.get_rng_state()

    # Unseeded torch dropout draws from torch's global generator, which each
    # DataLoader iterator also draws from; a resumed run makes other iterators
    # than an uninterrupted one. So the training steps get a generator state of
    # their own, carried from step to step and saved in the checkpoint.
    def on_train_batch_begin(self, batch, logs=None):
        if self._torch_rng is not None:
            import torch

            torch.set_rng_state(self._torch_rng)

    def on_train_end(self, logs=None):
        # A second fit call (rest of the epochs after a partial one) resets the
        # callbacks again; carry their state over.
        self._pending_states = self._callback_states()
        self.wait()

    def on_train_batch_end(self, batch, logs=None):
        if self._torch_rng is not None:
            import torch

            self._torch_rng = torch.get_rng_state()
        self.global_step += 1
        spe = self.steps_per_epoch
        end_of_epoch = spe and self.global_step % spe == 0
        if self.every_n_steps and self.global_step % self.every_n_steps == 0 and not end_of_epoch:
            self.save(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        # Resumed mid-epoch: Keras has just reset the metrics for this epoch; put
        # back the running sums of the steps done before the interruption, so the
        # epoch's logged loss and metrics cover the whole epoch.
        saved, self._pending_metrics = self._pending_metrics, None
        if saved is None:
            return
        variables = self.model.metrics_variables
        if [tuple(v.shape) for v in variables] != [a.shape for a in saved]:
            warnings.warn(
                "Checkpoint: this model's metrics differ from the checkpoint's, so the "
                "resumed epoch's logged loss/metrics cover only the steps after the resume.",
                stacklevel=2,
            )
            return
        for v, a in zip(variables, saved, strict=True):
            v.assign(a)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        for k, v in logs.items():
            self.history.setdefault(k, []).append(_plain(v))
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            value = logs.get(self.monitor, logs.get("loss") if self.monitor == "val_loss" else None)
            score = None if value is None else self._sign * float(value)
            self.save(self.model, score=score, epoch_end=epoch)

    # ------------------------------------------------------------------ saving

    def _callback_states(self):
        states = {}
        for i, cb in enumerate(self.tracked):
            state = _callback_state(cb)
            if state is not None:
                states[_callback_key(i, cb)] = state
        return states

    def _record(self, model, score, epoch_end, callback_states):
        spe = self.steps_per_epoch or 0
        if spe:
            epoch, step = divmod(self.global_step, spe)
        else:
            epoch, step = len(self.history.get("loss", [])), 0
        np_state = np.random.get_state()
        py_state = random.getstate()
        return {
            "format": FORMAT,
            "global_step": self.global_step,
            "epoch": epoch,
            "step": step,
            "steps_per_epoch": spe,
            "seed": self.seed,
            "score": score,
            "epoch_end": epoch_end,
            "history": self.history,
            "callbacks": callback_states,
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python_rng": [py_state[0], list(py_state[1]), py_state[2]],
            "backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "model_variables": [[v.path, list(v.shape)] for v in model.variables],
            "optimizer_variables": [[v.path, list(v.shape)] for v in model.optimizer.variables],
            "time": time.time(),
        }

    def save(self, model, directory=None, score=None, epoch_end=None):
        """Write a checkpoint of `model` now (to `directory` if given).

        Raises:
            CheckpointWriteError: the file could not be written; the state in
                memory is unchanged, so `save(model, directory=elsewhere)` works.
        """
        directory = pathlib.Path(directory or self.directory)
        callback_states, callback_arrays = _split_weights(self._callback_states())
        record = self._record(model, score, epoch_end, callback_states)
        arrays = {f"m{i}": _to_numpy(v) for i, v in enumerate(model.variables)}
        arrays.update({f"o{i}": _to_numpy(v) for i, v in enumerate(model.optimizer.variables)})
        arrays.update(callback_arrays)
        arrays.update({f"t{i}": _to_numpy(v) for i, v in enumerate(model.metrics_variables)})
        if self._torch_rng is not None:
            arrays["torch_rng"] = self._torch_rng.numpy()
        arrays["meta"] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        name = f"step-{self.global_step:08d}.ckpt"
        self.wait()
        if self.async_write:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="kzoo-checkpoint")
            self._pending_write = self._pool.submit(self._write, directory, name, data, record)
        else:
            self._write(directory, name, data, record)
        self.last_saved = str(directory / name)
        if self.verbose:
            print(f"Checkpoint: saved {self.last_saved}")
        return self.last_saved

    def wait(self):
        """Block until a background write is done; raise its error if it failed."""
        pending, self._pending_write = self._pending_write, None
        if pending is not None:
            pending.result()

    def _write(self, directory, name, data, record):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write(directory / name, data, self._before_rename)
            manifest = self._update_manifest(directory, name, data, record)
            self._prune(directory, manifest)
        except OSError as err:
            raise CheckpointWriteError(
                f"Could not write checkpoint {name} to {str(directory)!r}: {err}. The "
                "training state in memory is intact; save it elsewhere with "
                "checkpoint.save(model, directory=OTHER_DIR), or free space/fix "
                "permissions and resume."
            ) from err

    def _update_manifest(self, directory, name, data, record):
        manifest = read_manifest(directory)
        entries = [e for e in manifest["checkpoints"] if e["file"] != name]
        entries.append(
            {
                "file": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "global_step": record["global_step"],
                "epoch": record["epoch"],
                "step": record["step"],
                "score": record["score"],
                "epoch_end": record["epoch_end"],
                "contents": "model variables (weights, RNG seeds), optimizer variables, "
                "epoch/step, the epoch's running metric sums, history, callback "
                "states (EarlyStopping's best weights included), numpy/python RNG",
            }
        )
        manifest["checkpoints"] = sorted(entries, key=lambda e: e["global_step"])
        manifest["last"] = name
        scored = [e for e in manifest["checkpoints"] if e["score"] is not None]
        best = sorted(scored, key=lambda e: (e["score"], -e["global_step"]))[: self.save_best_k]
        manifest["best"] = [e["file"] for e in best]
        manifest["monitor"], manifest["mode"] = self.monitor, self.mode
        atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
        return manifest

    def _prune(self, directory, manifest):
        entries = manifest["checkpoints"]
        keep = {e["file"] for e in entries[-self.keep_last :]} | set(manifest["best"])
        if self.keep_every_n_epochs:
            keep |= {
                e["file"]
                for e in entries
                if e["epoch_end"] is not None
                and (e["epoch_end"] + 1) % self.keep_every_n_epochs == 0
            }
        dropped = [e for e in entries if e["file"] not in keep]
        if not dropped:
            return
        manifest["checkpoints"] = [e for e in entries if e["file"] in keep]
        atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
        for e in dropped:
            try:
                os.unlink(directory / e["file"])
            except FileNotFoundError:
                pass
        for leftover in directory.glob(".tmp-*"):  # from a write killed midway
            try:
                leftover.unlink()
            except OSError:
                pass

    # --------------------------------------------------------------- restoring

    def restore(self, model, path=None):
        """Load the latest valid checkpoint (or `path`) into `model`.

        Restores model and optimizer variables, this callback's step counter
        and history, the NumPy/Python RNG states, and queues the tracked
        callbacks' states (applied when training begins).

        Returns:
            The checkpoint's record (a dict), or `None` if there is none.
        """
        if path is None:
            found = latest_checkpoint(self.directory)
            if found is None:
                return None
            path, arrays, record = found
        else:
            arrays, record = load_checkpoint(path)
        apply_checkpoint(model, arrays, record)
        if self.steps_per_epoch and record["steps_per_epoch"] not in (0, self.steps_per_epoch):
            raise ValueError(
                f"Checkpoint {path} was written with {record['steps_per_epoch']} steps per "
                f"epoch, this run has {self.steps_per_epoch}: keep batch size and data the "
                "same to resume, or start a new run."
            )
        self.global_step = record["global_step"]
        self.history = {k: list(v) for k, v in record["history"].items()}
        self._pending_states = _join_weights(record["callbacks"], arrays)
        metrics = []
        while f"t{len(metrics)}" in arrays:
            metrics.append(arrays[f"t{len(metrics)}"])
        self._pending_metrics = metrics if record["step"] else None
        np_state = record["numpy_rng"]
        np.random.set_state(
            (np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:])
        )
        py_state = record["python_rng"]
        random.setstate((py_state[0], tuple(py_state[1]), py_state[2]))
        if "torch_rng" in arrays and keras.backend.backend() == "torch":
            import torch

            self._torch_rng = torch.from_numpy(arrays["torch_rng"].copy())
        if self.verbose:
            print(f"Checkpoint: resumed from {path} (global step {record['global_step']})")
        return record

    def get_config(self):
        return {
            "directory": self.directory,
            "monitor": self.monitor,
            "mode": self.mode,
            "save_best_k": self.save_best_k,
            "keep_last": self.keep_last,
            "every_n_epochs": self.every_n_epochs,
            "every_n_steps": self.every_n_steps,
            "keep_every_n_epochs": self.keep_every_n_epochs,
            "async_write": self.async_write,
            "verbose": self.verbose,
        }


def read_manifest(directory):
    """The manifest of `directory` (an empty one if absent or unreadable)."""
    path = pathlib.Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        if isinstance(manifest.get("checkpoints"), list):
            return manifest
    except (OSError, ValueError):
        pass
    return {"format": FORMAT, "checkpoints": [], "best": [], "last": None}


def load_checkpoint(path, sha256=None):
    """`(arrays, record)` of a checkpoint file; ValueError if corrupt or truncated."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("SHA-256 differs from the manifest")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}  # reading checks each member's CRC
        record = json.loads(arrays.pop("meta").tobytes().decode())
        if record.get("format") != FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
    except Exception as err:  # zipfile, OSError, JSON, missing keys: all mean corrupt
        raise ValueError(f"Checkpoint {path} is corrupt or truncated: {err}") from None
    return arrays, record


def latest_checkpoint(directory):
    """`(path, arrays, record)` of the newest valid checkpoint, or None.

    Files are tried newest first; one that fails its checks is skipped with a
    warning. Files missing from the manifest (a kill between rename and the
    manifest update) are still found by name.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return None
    digests = {e["file"]: e.get("sha256") for e in read_manifest(directory)["checkpoints"]}
    names = sorted(
        (p.name for p in directory.iterdir() if _NAME.match(p.name)),
        key=lambda n: int(_NAME.match(n).group(1)),
        reverse=True,
    )
    for name in names:
        try:
            arrays, record = load_checkpoint(directory / name, digests.get(name))
        except ValueError as err:
            warnings.warn(f"{err}. Falling back to the previous checkpoint.", stacklevel=2)
            continue
        return directory / name, arrays, record
    return None


def apply_checkpoint(model, arrays, record):
    """Assign a checkpoint's model and optimizer variables to `model`."""
    model_vars = model.variables
    saved = record["model_variables"]
    if len(saved) != len(model_vars) or any(
        tuple(s) != tuple(v.shape) for (_, s), v in zip(saved, model_vars, strict=False)
    ):
        raise ValueError(
            "The checkpoint does not fit this model: it holds "
            f"{len(saved)} variables, the model has {len(model_vars)} (or shapes differ). "
            "Rebuild the same model (same family and hyperparameters) to resume."
        )
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    opt_vars = optimizer.variables
    saved_opt = record["optimizer_variables"]
    # Variables added after build (e.g. CycleMomentum's) come last and are
    # recomputed from the step counter, so only the common prefix must match.
    n = min(len(saved_opt), len(opt_vars))
    shapes_differ = any(
        tuple(s) != tuple(v.shape) for (_, s), v in zip(saved_opt[:n], opt_vars[:n], strict=True)
    )
    if shapes_differ or len(opt_vars) > len(saved_opt):
        raise ValueError(
            "The checkpoint's optimizer state does not fit this optimizer. Use the same "
            "optimizer as the run that wrote it."
        )
    for i, v in enumerate(model_vars):
        v.assign(arrays[f"m{i}"])
    for i in range(n):
        opt_vars[i].assign(arrays[f"o{i}"])



def load_model_safely(path):
    """`keras.saving.load_model(path, safe_mode=True)` with a clear refusal.

    A `.keras` file with a `Lambda` layer (or any other serialized Python
    code) is refused: loading it would execute code from the file.
    """
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as err:
        text = str(err)
        if "safe_mode" in text or "lambda" in text.lower():
            raise ValueError(
                f"Refusing to load {path}: it contains a Lambda layer or other serialized "
                "Python code, which would run on load. kzoo keeps safe_mode=True. Rebuild "
                "the model in code and load only its weights (model.load_weights on a "
                ".weights.h5 file)."
            ) from None
        raise


__all__ = [
    "Checkpoint",
    "CheckpointWriteError",
    "apply_checkpoint",
    "atomic_write",
    "latest_checkpoint",
    "load_checkpoint",
    "load_model_safely",
]
