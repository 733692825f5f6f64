"""The search directory: its config file, and the guard that decides whether to write there.

`OUT/tune_config.json` holds the settings that must match to resume a search
(its identity) and the objective's direction, which the search plot reads.
The directory is marked, locked and replaced by the rules of
`kzoo.rundir.marker` (kind "tune"): never a directory that is not a kzoo
search, and `--overwrite` deletes only a search's own files.
"""

import pathlib

from kzoo.rundir import files
from kzoo.rundir.marker import check_out, claim
from kzoo.rundir.readers import read_json_object
from kzoo.runtime.errors import RunDirError

_IDENTITY = ("model", "data", "tuner", "epochs", "objective", "fixed", "seed", "backend")
_NOT_IDENTITY = ("direction",)  # stored alongside, derived from the objective


def identity(settings):
    """The settings that must match to resume a search (max_trials may grow)."""
    ident = {k: settings[k] for k in _IDENTITY}
    if settings.get("prune"):  # absent when off, so earlier searches still resume
        ident["prune"] = True
    if settings.get("accumulate", 1) > 1:  # likewise
        ident["accumulate"] = settings["accumulate"]
    return ident


def prepare_search_dir(out, ident, direction, *, overwrite, role):
    """Create or reopen the search directory `out`: `(resumed, lock)`.

    `resumed` is True when a search is resumed; `lock` is the directory's `RunLock`
    (None for a worker), which the caller releases when the search ends.

    Refuses a file, a non-empty directory that holds no search, and a search with
    other settings (unless `overwrite`). The chief or single process owns the
    directory; a worker only makes sure it exists.

    Args:
        out: the search directory.
        ident: `identity(settings)` of the search to run.
        direction: `"min"` or `"max"`, the objective's direction (from KerasTuner).
        overwrite: replace an earlier search in `out`.
        role: `"single"`, `"chief"` or `"worker"`.
    """
    out = pathlib.Path(out)
    config = out / files.TUNE_CONFIG_FILE
    if role == "worker":
        if out.exists() and not out.is_dir():
            raise RunDirError(f"--out {out} is a file; choose a directory.")
        out.mkdir(parents=True, exist_ok=True)
        return config.exists(), None
    record = {**ident, "direction": direction}
    searched = out.is_dir() and any(out.iterdir())
    if searched:
        check_out(out, "tune", resume=True)  # refuses what is not a kzoo search
    if searched and config.exists() and not overwrite:
        saved = read_json_object(config)
        kept = {k: v for k, v in saved.items() if k not in _NOT_IDENTITY}
        if kept != ident:
            diff = sorted(k for k in {*ident, *kept} if kept.get(k) != ident.get(k))
            raise RunDirError(
                f"--out {out} holds a search with different settings ({', '.join(diff)}: "
                f"{ {k: kept.get(k) for k in diff} }). Use the same settings to resume it, "
                "another --out, or --overwrite to replace it."
            )
        lock = claim(out, "tune", resume=True, fresh=False)
        if saved != record:  # a search from before the direction was stored
            files.write_json(config, record)
        return True, lock
    # A search killed before its config was written is replaced as if overwrite were on.
    overwrite = overwrite or (searched and not config.exists())
    check_out(out, "tune", overwrite=overwrite)
    lock = claim(out, "tune", overwrite=overwrite)
    try:
        files.write_json(config, record)
    except BaseException:
        lock.release()
        raise
    return False, lock
