"""`Checkpoint`: crash-safe full-state checkpoints that resume a run exactly.

A checkpoint holds every model variable (weights and the dropout
`SeedGenerator` states), every optimizer variable (moments, the step counter
that drives LR schedules), the metrics' running sums within the current
epoch, EarlyStopping's best weights, and a JSON record: epoch, step within the
epoch, global step, the history so far, the callbacks' states, NumPy/Python
RNG states and the monitored score (format: `checkpoint_format.py`).

Writes are atomic (`kzoo.runtime.files`); `manifest.json` (written the same way) lists
each file with its SHA-256. A kill at any moment leaves the previous
checkpoints intact; a truncated or corrupt file is detected on restore, with a
warning, and the previous one used.

In a multi-process job every process builds each checkpoint (the same replicated
values, the same calls), but only process 0 writes it; on restore every process
reads the same file, and they check they agree on its step.
"""

import hashlib
import io
import json
import os
import pathlib
import random
import tempfile
import time
import uuid
import warnings

import keras
import numpy as np

from kzoo.callbacks._checkpoint_state import (
    callback_key,
    callback_state,
    join_weights,
    plain,
    set_callback_state,
    split_weights,
    to_numpy,
)
from kzoo.callbacks._monitor import MonitorCallback
from kzoo.callbacks.checkpoint_format import (  # noqa: F401 (re-exported)
    FORMAT,
    MANIFEST,
    NAME,
    apply_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    read_manifest,
)
from kzoo.runtime import processes
from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import RunDirError, UsageError
from kzoo.runtime.files import atomic_write_bytes, atomic_write_json


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (permissions, full disk).

    The training state in memory is intact: save it elsewhere with
    `checkpoint.save(model, directory=...)`.
    """


def _check_writable(directory):
    if not processes.is_writer():
        return
    directory = pathlib.Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RunDirError(
            f"Checkpoint directory {str(directory)!r} is not writable ({err}). Choose "
            "another directory or fix its permissions."
        ) from None


class Checkpoint(MonitorCallback):
    """Save the full training state, atomically; keep the best k and the last.

    Used with `kzoo.fit.fit_resumable` it resumes mid-epoch and exactly;
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
        overwrite: when `directory` already holds checkpoints of another run,
            remove them (only the `step-*.ckpt` files and the manifest) when
            training begins, instead of refusing. Defaults to `False`.
        run_id: the run these checkpoints belong to, written to the manifest.
            Checkpoints of the same `run_id`, or a run resumed with `restore`,
            are this run's; any others belong to another run. Defaults to a new
            random id.

    The directory rule: a `Checkpoint` never mixes its files with another
    run's. `fit` refuses, before the first step, a directory that holds
    checkpoints of a run this instance did not `restore` (nor share a
    `run_id` with), unless `overwrite=True`.

    Example:

    >>> ckpt = Checkpoint("runs/a/checkpoints", every_n_steps=100, save_best_k=3)
    >>> history = kzoo.fit.fit_resumable(model, x, y, epochs=20, batch_size=32,
    ...                                        checkpoint=ckpt)
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
        overwrite=False,
        run_id=None,
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
            if not is_int(value) or value < low:
                raise UsageError(f"{name} must be an int >= {low}, got {value!r}.")
        _check_writable(directory)
        self.directory = str(directory)
        self.save_best_k = save_best_k
        self.keep_last = keep_last
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.keep_every_n_epochs = keep_every_n_epochs
        self.async_write = async_write
        self.verbose = verbose
        self.overwrite = overwrite
        self.run_id = str(run_id) if run_id is not None else uuid.uuid4().hex
        self._directory_checked = False
        self._pool = None
        self._pending_write = None
        self.tracked = []
        self.steps_per_epoch = None
        self.seed = None
        self.global_step = 0
        self.history = {}
        self._pending_states = None
        self._torch_rng = None
        self.last_saved = None
        self._pending_metrics = None
        # The settings the run is written under (kzoo.training sets it); a resume
        # compares its own against them (`kzoo.training.fit.check_checkpoints`).
        self.run_config = None

    # ------------------------------------------------------------------ wiring

    def track(self, callbacks, steps_per_epoch=None, seed=None):
        """Callbacks whose state is saved, and the epoch length in steps."""
        self.tracked = [c for c in callbacks if c is not self]
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed

    def _claim_directory(self):
        """Refuse (or, with `overwrite`, clear) a directory holding another run's checkpoints."""
        if self._directory_checked:
            return
        directory = pathlib.Path(self.directory)
        manifest = read_manifest(directory)
        files = sorted(p for p in directory.glob("step-*.ckpt") if NAME.match(p.name))
        if (files or manifest["checkpoints"]) and manifest.get("run_id") != self.run_id:
            if not self.overwrite:
                raise RunDirError(
                    f"Checkpoint directory {self.directory!r} holds {len(files)} checkpoint(s) "
                    "of another run. Resume that run (`checkpoint.restore(model)`, or "
                    "fit_resumable(..., resume=True)), choose another directory, or pass "
                    "Checkpoint(..., overwrite=True) to replace them."
                )
            for path in [*files, directory / MANIFEST] if processes.is_writer() else []:
                path.unlink(missing_ok=True)
        self._directory_checked = True

    def on_train_begin(self, logs=None):
        self._claim_directory()
        if self.steps_per_epoch is None:
            self.steps_per_epoch = self.params.get("steps")
        # The other callbacks reset themselves in their on_train_begin, which
        # ran before this one (Checkpoint goes last): put the saved state back.
        if self._pending_states:
            for i, cb in enumerate(self.tracked):
                state = self._pending_states.get(callback_key(i, cb))
                if state is not None:
                    set_callback_state(cb, state)
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
            self.history.setdefault(k, []).append(plain(v))
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            value = logs.get(self.monitor, logs.get("loss") if self.monitor == "val_loss" else None)
            score = None if value is None else self._sign * float(value)
            self.save(self.model, score=score, epoch_end=epoch)

    # ------------------------------------------------------------------ saving

    def _callback_states(self):
        states = {}
        for i, cb in enumerate(self.tracked):
            state = callback_state(cb)
            if state is not None:
                states[callback_key(i, cb)] = state
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
            **({"run_config": self.run_config} if self.run_config is not None else {}),
        }

    def save(self, model, directory=None, score=None, epoch_end=None):
        """Write a checkpoint of `model` now (to `directory` if given).

        Raises:
            CheckpointWriteError: the file could not be written; the state in
                memory is unchanged, so `save(model, directory=elsewhere)` works.
        """
        if directory is None:
            self._claim_directory()
        directory = pathlib.Path(directory or self.directory)
        callback_states, callback_arrays = split_weights(self._callback_states())
        record = self._record(model, score, epoch_end, callback_states)
        arrays = {f"m{i}": to_numpy(v) for i, v in enumerate(model.variables)}
        arrays.update({f"o{i}": to_numpy(v) for i, v in enumerate(model.optimizer.variables)})
        arrays.update(callback_arrays)
        arrays.update({f"t{i}": to_numpy(v) for i, v in enumerate(model.metrics_variables)})
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
        if not processes.is_writer():
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(directory / name, data)
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
        manifest["run_id"] = self.run_id
        atomic_write_json(directory / MANIFEST, manifest)
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
        atomic_write_json(directory / MANIFEST, manifest)
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
        # Resuming makes the directory's run this one, even when no file is valid
        # (the run then starts over in its own directory).
        self.run_id = read_manifest(self.directory).get("run_id") or self.run_id
        self._directory_checked = True
        if path is None:
            found = latest_checkpoint(self.directory)
        else:
            found = (path, *load_checkpoint(path))
        step = -1 if found is None else found[2]["global_step"]
        processes.agree(
            step, f"the step of the checkpoint to resume from in {self.directory}",
            "Every process must read the same checkpoints: put the run directory on a "
            "filesystem all hosts share.",
        )
        if found is None:
            return None
        path, arrays, record = found
        apply_checkpoint(model, arrays, record)
        if self.steps_per_epoch and record["steps_per_epoch"] not in (0, self.steps_per_epoch):
            raise RunDirError(
                f"Checkpoint {path} was written with {record['steps_per_epoch']} steps per "
                f"epoch, this run has {self.steps_per_epoch}: keep batch size and data the "
                "same to resume, or start a new run."
            )
        self.global_step = record["global_step"]
        self.history = {k: list(v) for k, v in record["history"].items()}
        self._pending_states = join_weights(record["callbacks"], arrays)
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
            "overwrite": self.overwrite,
            "run_id": self.run_id,
        }
