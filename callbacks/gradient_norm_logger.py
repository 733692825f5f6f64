"""`GradientNormLogger`: global and per-layer gradient norms, on every backend."""

import csv
import math
import os
import warnings

import keras
import numpy as np
from keras import ops

from kzoo.callbacks import _keras_private
from kzoo.callbacks._optimizer_hook import get_hook
from kzoo.callbacks._ring import add_to
from kzoo.runtime import processes
from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import RunDirError, UsageError

_VARS = ("log_buf", "log_row", "clip_count", "step_count")
FIXED_COLUMNS = ("step", "global_norm", "clip_threshold", "clipped")


class GradientNormLogger(keras.callbacks.Callback):
    """Log the global and per-layer gradient norms every `every` steps.

    The norms are computed inside the compiled train step (through the
    optimizer's clipping hook, shared with `GradientClipping` and
    `GradientHealth`) and buffered in optimizer variables; the host reads the
    buffer once per epoch, so the callback never synchronises a step. Norms are
    those of the gradients before clipping. Layers are the first component of
    each variable path (`"lstm_0"`, `"dense"`).

    Where the values go:
    - `logs` at each epoch end, so History / CSVLogger / TensorBoard see them
      (put this callback before them): `grad_norm` (mean over the epoch's
      logged steps), `grad_norm_max`, `grad_norm/<layer>` (mean) and, when
      clipping is active, `grad_clip_fraction` (fraction of all steps clipped);
    - `rows`: this `fit`'s logged rows (reset at each `fit`, as Keras'
      callbacks reset in `on_train_begin`);
    - `<run_dir>/grad_norms.csv`, one row per logged step (of every `fit` of
      this instance: the header is written once, then rows are appended): `step`,
      `global_norm`, `clip_threshold` (0 without clipping), `clipped` (0/1),
      then one column per layer;
    - optionally TensorBoard event files in `tensorboard_dir`, at each logged
      step: the global and per-layer norms, a histogram of the per-layer norms
      and, under clipping, its threshold and scale
      (`kzoo.callbacks.tensorboard.write_gradient_rows`). Written without
      TensorFlow; needs the `tensorboard` package (`kzoo[tensorboard]`).

    In a multi-process job only process 0 writes the files (`kzoo.runtime.processes`).

    Args:
        every: log every `every` optimizer steps. Defaults to `10`.
        run_dir: directory for `grad_norms.csv` (created); `None` to skip the
            file. Defaults to `None`.
        tensorboard_dir: directory for TensorBoard events (written without
            TensorFlow; needs the `tensorboard` package); `None` to skip. For the
            epoch curves too, use `kzoo.callbacks.TensorBoardLogger(gradients=...)`.
            Defaults to `None`.
        per_layer: also log per-layer norms. Defaults to `True`.

    Example:

    ```python
    logger = GradientNormLogger(every=10, run_dir="runs/a")
    model.fit(x, y, callbacks=[logger, keras.callbacks.CSVLogger("h.csv")])
    ```
    """

    async_safe = True

    def __init__(self, every=10, run_dir=None, tensorboard_dir=None, per_layer=True):
        super().__init__()
        if not is_int(every) or every < 1:
            raise UsageError(f"GradientNormLogger: every must be an int >= 1, got {every!r}.")
        if run_dir is not None and os.path.isfile(run_dir):
            raise RunDirError(
                f"GradientNormLogger: run_dir {run_dir!r} is a file, not a directory."
            )
        if tensorboard_dir is not None:  # TF-free event files (kzoo.callbacks.tensorboard)
            from kzoo.callbacks._event_writer import require

            require("GradientNormLogger(tensorboard_dir=...)")
        self.every = every
        self.run_dir = run_dir
        self.tensorboard_dir = tensorboard_dir
        self.per_layer = per_layer
        self._hook = None
        self._csv_started = False
        # Set by a resumed run (kzoo.training.fit): keep grad_norms.csv, and cut at the
        # first step logged again the rows a killed run wrote after its checkpoint.
        self.resume = False
        self._pending = None  # a checkpoint's buffered rows and counts (set_state)
        self._writer = None
        self.rows = []

    def get_config(self):
        return {
            "every": self.every,
            "run_dir": self.run_dir,
            "tensorboard_dir": self.tensorboard_dir,
            "per_layer": self.per_layer,
        }

    def get_state(self):
        """For a mid-epoch checkpoint: the rows logged since the last epoch end (still
        in the buffer) and the clipping counts, so a resumed run writes them too."""
        hook = self._hook
        if hook is None:
            return {}
        written = int(hook.read("log_row"))
        n = min(written, self._capacity)
        buf = hook.read("log_buf")
        rows = buf[[(written - n + i) % self._capacity for i in range(n)]].tolist()
        counts = {}
        if "clip" in hook.parts:
            counts = {"clip_count": int(hook.read("clip_count")),
                      "step_count": int(hook.read("step_count"))}
        return {"rows": rows, **counts}

    def set_state(self, state):
        self._pending = state if state and (state.get("rows") or state.get("step_count")) else None

    @property
    def csv_path(self):
        return None if self.run_dir is None else os.path.join(self.run_dir, "grad_norms.csv")

    def on_train_begin(self, logs=None):
        self.rows = []  # per fit, as Keras' callbacks; the CSV file keeps every fit's rows
        self._warn_if_csv_logger_first()
        self._hook = hook = get_hook(self.model)
        steps = (self.params or {}).get("steps")
        capacity = math.ceil(steps / self.every) + 1 if steps else 1024
        self._capacity = capacity
        hook.ensure_built()
        width = len(FIXED_COLUMNS) + len(hook.layers)
        hook.attach(
            "log",
            self,
            {
                "log_buf": np.zeros((capacity, width), "float32"),
                "log_row": np.asarray(0, "int32"),
                "clip_count": np.asarray(0, "int32"),
                "step_count": np.asarray(0, "int32"),
            },
        )
        self.columns = list(FIXED_COLUMNS) + hook.layers
        if (self.resume and self.csv_path is not None and os.path.isfile(self.csv_path)
                and not self._csv_started):
            self._csv_started = self._trim_pending = True
        if self.run_dir is not None and not self._csv_started and processes.is_writer():
            os.makedirs(self.run_dir, exist_ok=True)
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
            self._csv_started = True
        if self.tensorboard_dir is not None and self._writer is None and processes.is_writer():
            from kzoo.callbacks._event_writer import EventWriter

            self._writer = EventWriter(self.tensorboard_dir)

    def _warn_if_csv_logger_first(self):
        callbacks = _keras_private.running_callbacks()
        if not callbacks or self not in callbacks:
            return
        mine = callbacks.index(self)
        early = [c for c in callbacks[:mine] if isinstance(c, keras.callbacks.CSVLogger)]
        if early:
            warnings.warn(
                "GradientNormLogger comes after a CSVLogger in the callback list, so the "
                "CSV file will not get the gradient-norm columns (CSVLogger fixes its "
                "columns at the first epoch end, before this callback adds them). Put "
                "GradientNormLogger before CSVLogger.",
                stacklevel=3,
            )

    def on_epoch_end(self, epoch, logs=None):
        hook = self._hook
        if hook is None:
            return
        written = int(hook.read("log_row"))
        buf = hook.read("log_buf")
        n = min(written, self._capacity)
        if written > self._capacity:
            warnings.warn(
                f"GradientNormLogger: {written - n} logged steps of epoch {epoch} overflowed "
                f"the buffer of {self._capacity} rows and were dropped; raise `every`.",
                stacklevel=2,
            )
        rows = buf[[(written - n + i) % self._capacity for i in range(n)]]
        hook.write("log_row", np.asarray(0, "int32"))
        pending, self._pending = self._pending or {}, None
        if pending.get("rows"):  # logged before the checkpoint this run resumed from
            before = np.asarray(pending["rows"], "float32").reshape(-1, buf.shape[1])
            rows = np.concatenate([before[before[:, 0] < (rows[0, 0] if n else np.inf)], rows])
            n = len(rows)
        clipping = "clip" in hook.parts
        fraction = None
        if clipping:
            count = int(hook.read("step_count")) + pending.get("step_count", 0)
            fraction = (int(hook.read("clip_count")) + pending.get("clip_count", 0)) / max(count, 1)
            hook.write("clip_count", np.asarray(0, "int32"))
            hook.write("step_count", np.asarray(0, "int32"))
        self.rows.extend(rows.tolist())
        if logs is not None and n:
            logs["grad_norm"] = float(np.mean(rows[:, 1]))
            logs["grad_norm_max"] = float(np.max(rows[:, 1]))
            if self.per_layer:
                for j, layer in enumerate(hook.layers):
                    logs[f"grad_norm/{layer}"] = float(np.mean(rows[:, len(FIXED_COLUMNS) + j]))
            if fraction is not None:
                logs["grad_clip_fraction"] = fraction
        if self.csv_path is not None and n and processes.is_writer():
            if getattr(self, "_trim_pending", False):
                self._trim_pending = False
                self._trim_csv(int(rows[0, 0]))
            with open(self.csv_path, "a", newline="") as f:
                writer = csv.writer(f)
                for row in rows:
                    writer.writerow([int(row[0])] + [f"{v:.8g}" for v in row[1:]])
        if self._writer is not None and n:
            self._write_tensorboard(rows, epoch)

    def _trim_csv(self, step):
        """Drop the rows at `step` or later (logged again by a resumed run)."""
        with open(self.csv_path, newline="") as f:
            kept = [r for i, r in enumerate(csv.reader(f)) if i == 0 or int(r[0]) < step]
        with open(self.csv_path, "w", newline="") as f:
            csv.writer(f).writerows(kept)

    def _write_tensorboard(self, rows, epoch):
        from kzoo.callbacks.tensorboard import write_gradient_rows

        write_gradient_rows(self._writer, self.columns, rows, self.per_layer)

    def on_train_end(self, logs=None):
        if self._hook is not None:
            self._hook.detach("log", _VARS)
            self._hook = None

    # ---- the traced part ---------------------------------------------------

    def transform(self, hook, grads, ctx):
        buf_var, row_var = hook.vars["log_buf"], hook.vars["log_row"]
        capacity = buf_var.shape[0]

        def values():
            sq = ctx["sq"] if ctx["sq"] is not None else hook.sq_sums(grads)
            layer = hook.layer_norms(sq)
            head = ops.stack(
                [
                    ops.cast(hook.step, "float32"),
                    ops.sqrt(ops.sum(layer * layer)),
                    ops.cast(ctx["threshold"], "float32"),
                    ops.cast(ctx["clipped"], "float32"),
                ]
            )
            return ops.concatenate([head, layer])

        if keras.backend.backend() == "tensorflow":
            # Write the row in place, inside the branch: steps that do not log run no op.
            def write_in_place():
                slot = ops.reshape(row_var.value.read_value() % capacity, (1, 1))
                buf_var.value.scatter_nd_update(slot, ops.expand_dims(values(), 0))
                row_var.value.assign_add(1, read_value=False)
                return ops.convert_to_tensor(True)

            hook.cond(self.every, write_in_place, lambda: ops.convert_to_tensor(False))
        else:

            def write(buf, row):
                hit = ops.expand_dims(ops.arange(capacity) == ops.mod(row, capacity), 1)
                return ops.where(hit, ops.expand_dims(values(), 0), buf), row + 1

            host_buf, host_row = hook.host_value(buf_var), hook.host_value(row_var)
            if host_buf is not None and host_row is not None:
                # eager torch on CPU: nothing on steps it does not log, and a logged row
                # goes into the buffer in place (`write`'s whole-buffer `where` and two
                # assigns cost ~0.7 ms a row)
                if hook.host_step % self.every == 0:
                    host_buf[int(host_row) % capacity] = values()
                    host_row.add_(1)
                new = ()
            elif hook.host_counter:  # eager torch: no op at all on steps it does not log
                new = hook.cond(self.every, lambda: write(buf_var.value, row_var.value), tuple)
            else:
                buf, row = ops.convert_to_tensor(buf_var), ops.convert_to_tensor(row_var)
                new = hook.cond(self.every, lambda: write(buf, row), lambda: (buf, row))
            if new:
                buf_var.assign(new[0])
                row_var.assign(new[1])
        if "clip" in hook.parts:
            clip_var, count_var = hook.vars["clip_count"], hook.vars["step_count"]
            host_clip, host_count = hook.host_value(clip_var), hook.host_value(count_var)
            if host_clip is not None and host_count is not None:
                host_clip.add_(ctx["clipped"].to(host_clip.dtype))
                host_count.add_(1)
            else:
                add_to(clip_var, ctx["clipped"])
                add_to(count_var, 1)
