"""What a search leaves behind: `trials.csv`, and what `tune` returns.

`trials.csv` is rewritten from the oracle's state after every trial (atomically,
through `kzoo.rundir`'s writer), so it is consistent after a SIGKILL. This module
imports no keras: it only reads the oracle it is given.
"""

import dataclasses
import datetime
import json
import math
import pathlib
import shutil
import threading

from kzoo import rundir as layout
from kzoo.runtime.errors import EXIT_BUG, KzooError
from kzoo.tuning.oom import is_out_of_memory


class SearchFailedError(KzooError, RuntimeError):
    """Every trial of a search failed; the message names the first error.

    One line in the CLI, as kzoo's other errors, naming trials.csv, which keeps every
    trial's error; exit 1 (a trial's error may be a bug). Still a RuntimeError.
    """

    exit_code = EXIT_BUG


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns (read back from `out`).

    Attributes:
        out: the search directory.
        best: contents of `best.json` (trial id, score, hyperparameters, ...).
        trials: the rows of `trials.csv`, as dicts.
    """

    out: pathlib.Path
    best: dict
    trials: list


def read_result(out):
    out = pathlib.Path(out)
    return TuneResult(out, layout.read_best(out), layout.read_trials(out))


def last_line(message):
    """The last non-blank line of a trial's message (KerasTuner stores the traceback)."""
    lines = [ln.strip() for ln in (message or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def _int_or_none(v):
    return None if v is None else int(v)


def _round(v, digits):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, digits)


class Recorder:
    """Writes `trials.csv` (and `trial_workers.json`) when a trial ends.

    Args:
        out: the search directory.
        oracle: the search's oracle (the chief's, in a distributed search).
        progress: a `kzoo.tuning.progress.Progress` to tell, or None.
    """

    _lock = threading.Lock()  # the chief ends trials from several gRPC threads

    def __init__(self, out, oracle, progress=None):
        self.out = pathlib.Path(out)
        self.oracle = oracle
        self.progress = progress

    def workers(self):
        return layout.read_optional_json(self.out / layout.TRIAL_WORKERS_FILE)

    def blocks(self):
        """Each local worker's devices (`workers/devices.json`, from the launcher)."""
        return layout.read_optional_json(
            self.out / layout.WORKERS_DIR / layout.WORKER_DEVICES_FILE)

    def trial_ended(self, trial_id, worker):
        with self._lock:
            workers = self.workers()
            workers[trial_id] = worker
            layout.atomic_write_text(self.out / layout.TRIAL_WORKERS_FILE, json.dumps(workers))
            rows = self.write_csv()
            if getattr(self, "tensorboard", None):  # HParams sessions (kzoo.tuning.tensorboard)
                from kzoo.tuning.tensorboard import write_hparams

                write_hparams(self.tensorboard, self.oracle, rows)
            # Recorded as ended: its resume checkpoints are no longer needed.
            shutil.rmtree(layout.trial_checkpoint_dir(self.out, trial_id), ignore_errors=True)
            if self.progress is not None:
                self.progress.trial_ended(rows, trial_id)

    def rows(self):
        workers, blocks = self.workers(), self.blocks()
        space = [hp.name for hp in self.oracle.get_space().space]
        rows = []
        for t in sorted(self.oracle.trials.values(), key=lambda t: int(t.trial_id)):
            m = t.metrics

            def metric(name, m=m):
                return m.get_last_value(name) if m.exists(name) else None

            finished = metric("finished_at")
            row = {
                "trial_id": t.trial_id,
                "status": t.status,
                "score": t.score if t.status == "COMPLETED" else None,
                "epochs_run": _int_or_none(metric("epochs_run")),
                "wall_time_s": _round(metric("wall_time_s"), 3),
            }
            if m.exists("resumed_from_epoch"):  # checkpointed trials: where this run began
                row["resumed_from_epoch"] = metric("resumed_from_epoch")
            if m.exists("devices"):
                row["devices"] = _int_or_none(metric("devices"))
            if m.exists("pruned"):  # prune=True searches only
                row["pruned"] = int(metric("pruned"))
            if is_out_of_memory(t):  # the column appears with the first one (kzoo.tuning.oom)
                row["out_of_memory"] = 1
            values = t.hyperparameters.values
            for name in space + sorted(set(values) - set(space)):
                row[name] = values.get(name)
            row.update(
                rss_mb=_round(metric("rss_mb"), 1),
                worker=workers.get(t.trial_id),
                **({"device_block": blocks.get(workers.get(t.trial_id))} if blocks else {}),
                finished_at=(
                    datetime.datetime.fromtimestamp(finished).isoformat(timespec="seconds")
                    if finished
                    else None
                ),
                error=last_line(t.message) if t.status in ("FAILED", "INVALID") else None,
            )
            rows.append(row)
        return rows

    def write_csv(self):
        rows = self.rows()
        layout.write_trials_csv(self.out, rows)
        return rows
