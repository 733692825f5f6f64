"""The run directory's rules: what makes a directory a kzoo run, and what keeps a
user's files safe. Its files and their writer are in files.py, their readers in
readers.py, the lock in lock.py.

A directory is a kzoo run only if it holds the marker, never because of a common
file name such as config.json. Runs written by kzoo 0.1.0 have no marker; one is
recognised only when its config.json holds kzoo's train settings and every entry
of the directory is a file a train run writes (nothing of the user's would be lost).

`check_out` validates an output directory without touching it; `claim` then locks
it, clears the previous run's own files (on `--overwrite`) and writes the marker.

Keras-free: `kzoo report`, `kzoo lr-find` and `kzoo tune` use it without the trainer.
"""

import datetime
import json
import os
import pathlib
import shutil
import uuid

from kzoo.rundir import files
from kzoo.rundir.lock import LOCK_FILE, NoLock, RunLock
from kzoo.runtime.errors import RunDirError

MARKER_FORMAT = 1
# What each kind of directory may hold: the marker lists these, `--overwrite` deletes
# only these.
KIND_FILES = {
    "train": (files.CONFIG_FILE, files.HISTORY_FILE, files.SUMMARY_FILE, files.MODEL_FILE,
              files.PLOTS_DIR, files.LR_FIND_FILE, files.LR_STEPS_FILE, files.GRAD_NORMS_FILE,
              files.CHECKPOINTS_DIR, files.TENSORBOARD_DIR, files.HTML_REPORT_FILE,
              files.MEMBERS_DIR),
    "tune": (files.TUNE_CONFIG_FILE, files.PROJECT, files.TRIALS_FILE, files.BEST_FILE,
             files.BEST_MODEL_FILE, files.TRIAL_WORKERS_FILE, files.WORKERS_DIR, files.PLOTS_DIR,
             files.TENSORBOARD_DIR, files.HTML_REPORT_FILE,
             files.AUTO_FINAL_DIR),
    "lr-find": (files.LR_FIND_FILE, files.PLOTS_DIR),
    "combine": (files.COMBINE_FILE, files.SUMMARY_FILE, files.MODEL_FILE, files.PLOTS_DIR,
                files.HTML_REPORT_FILE),
}
# kzoo 0.1.0 wrote no marker: its runs are known by their config file holding these keys
# (TrainConfig fields; a search's identity) and by holding nothing else than KIND_FILES.
_LEGACY_CONFIG = {
    "train": (files.CONFIG_FILE, {"model", "data", "epochs", "batch_size", "lr", "optimizer",
                                  "seed", "hparams", "checkpoint_every_epochs"}),
    "tune": (files.TUNE_CONFIG_FILE, {"model", "data", "tuner", "epochs", "objective", "seed"}),
}
_TMP_PREFIX = ".tmp-"  # what kzoo.runtime.files' temporary files start with


def read_marker(out):
    """The marker of `out` as a dict, or None when there is none.

    Raises:
        RunDirError: the marker exists but is not a kzoo marker.
    """
    path = pathlib.Path(out) / files.MARKER_FILE
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(
            f"{path} is not a readable kzoo marker ({err}). If this directory is a kzoo "
            "run you no longer need, delete it yourself; else choose another directory."
        ) from None
    if not isinstance(marker, dict) or marker.get("kind") not in KIND_FILES:
        raise RunDirError(f"{path} is not a kzoo marker (no known 'kind'). Choose another "
                          "directory.")
    return marker


def _legacy_kind(out):
    """The kind of a kzoo 0.1.0 directory: kzoo's config file and nothing kzoo would
    not write; else None."""
    names = {p.name for p in out.iterdir()} - {LOCK_FILE}
    for kind, (config_file, keys) in _LEGACY_CONFIG.items():
        if config_file not in names or not names <= set(KIND_FILES[kind]):
            continue
        try:
            config = json.loads((out / config_file).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(config, dict) and keys <= set(config):
            return kind
    return None


def run_kind(out):
    """`"train"`, `"tune"`, `"lr-find"` or `"combine"` for a kzoo directory, else None."""
    out = pathlib.Path(out)
    if not out.is_dir():
        return None
    marker = read_marker(out)
    if marker is not None:
        return marker["kind"]
    return _legacy_kind(out)


def _refuse_dangerous(out):
    """Directories `--overwrite` never replaces, whatever they hold."""
    resolved = out.resolve()
    home = pathlib.Path.home().resolve()
    cwd = pathlib.Path.cwd().resolve()
    why = None
    if out.is_symlink():
        why = "is a symlink"
    elif resolved == pathlib.Path(resolved.anchor):
        why = "is the filesystem root"
    elif resolved == home or home.is_relative_to(resolved):
        why = "is your home directory or holds it"
    elif cwd.is_relative_to(resolved):
        why = "is the current directory or one above it"
    elif os.path.ismount(resolved):
        why = "is a mount point"
    if why:
        raise RunDirError(
            f"--out {out} {why}; kzoo never replaces it. Choose a new directory for the run."
        )


def _first_existing(path):
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            return p
    return None


def check_out(out, kind, *, overwrite=False, resume=False):
    """Validate the output directory `out` for a `kind` run, writing nothing.

    Returns:
        `(path, state)`: state is `"new"` (absent or empty), `"resume"` or
        `"replace"` (a kzoo run of the same kind, replaced on `overwrite`);
        `(None, "none")` when `out` is None.

    Raises:
        RunDirError: `out` is a file or lies under one, is a non-empty directory
            that is not a kzoo run of this kind, holds a run and `overwrite` is
            off, or is a directory that is never replaced (`.`, `..`, `/`, a home
            directory, a symlink, a mount point).
    """
    if out is None:
        return None, "none"
    out = pathlib.Path(out)
    existing = _first_existing(out.absolute())
    if existing is not None and existing.exists() and not existing.is_dir():
        where = "is a file" if existing == out.absolute() else f"lies under the file {existing}"
        raise RunDirError(f"--out {out} {where}; choose a directory path.")
    if not out.is_dir() or not any(p.name != LOCK_FILE for p in out.iterdir()):
        if resume:
            raise RunDirError(f"{out} holds no kzoo run to resume. Check the path.")
        return out, "new"
    found = run_kind(out)
    if found is None:
        noun = "search" if kind == "tune" else "run"
        raise RunDirError(
            f"--out {out} is a non-empty directory that is not a kzoo {noun}: it holds no kzoo "
            f"{noun} marker ({files.MARKER_FILE}), and kzoo never writes into or replaces such a "
            "directory. Choose a new or empty directory."
        )
    if found != kind:
        raise RunDirError(
            f"--out {out} holds a kzoo {found} directory, not a {kind} one; kzoo will not "
            f"replace it with a {kind}. Choose another directory."
        )
    if resume:
        return out, "resume"
    if not overwrite:
        how = "--overwrite (overwrite=True) to replace it"
        if kind == "train":
            how += f", or `kzoo train --resume {out}` to continue it"
        raise RunDirError(f"--out {out} already holds a run (kzoo {kind}). Choose another "
                          f"directory, or pass {how}.")
    _refuse_dangerous(out)
    return out, "replace"


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _write_marker(out, kind, names):
    marker = {
        "format": MARKER_FORMAT,
        "kind": kind,
        "run_id": uuid.uuid4().hex,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "files": list(names),
    }
    files.atomic_write_text(out / files.MARKER_FILE, json.dumps(marker, indent=1) + "\n")
    return marker


def claim(out, kind, *, overwrite=False, resume=False, fresh=True):
    """Lock `out` and make it this process's `kind` directory; returns the `RunLock`.

    Checks `out` again under the lock (another process may have written it
    since `check_out`), then on a replace deletes only the files the old marker
    lists (kzoo's own names; anything else of the user's stays), and writes a
    new marker first. `fresh=False` keeps the files of a resumed run. In a
    multi-process job only process 0 claims (the others, which write nothing,
    wait for it and get a `NoLock`).
    """
    from kzoo.runtime import processes

    held = processes.on_writer(
        "claiming the run directory", _claim, out, kind, overwrite, resume, fresh
    )
    return NoLock() if held is None else held


def _claim(out, kind, overwrite, resume, fresh):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out).acquire()
    try:
        _, state = check_out(out, kind, overwrite=overwrite, resume=resume)
        if state == "resume" and not fresh:
            if read_marker(out) is None:  # a kzoo 0.1.0 run: mark it now
                _write_marker(out, kind, KIND_FILES[kind])
            return lock
        if state in ("replace", "resume"):
            marker = read_marker(out)
            listed = marker.get("files", ()) if marker else KIND_FILES[kind]
            for name in listed:
                if isinstance(name, str) and name in KIND_FILES[kind]:
                    _remove(out / name)
            for stray in out.glob(_TMP_PREFIX + "*"):
                _remove(stray)
        _write_marker(out, kind, KIND_FILES[kind])
        if kind != "tune":
            (out / files.PLOTS_DIR).mkdir(exist_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock
