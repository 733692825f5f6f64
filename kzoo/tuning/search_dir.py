"""The search directory: its config file, and the guard that decides whether to write there.

`OUT/tune_config.json` holds the settings that must match to resume a search
(its identity) and the objective's direction, which the search plot reads.
"""

import json
import pathlib
import shutil

CONFIG_FILE = "tune_config.json"
PROJECT = "kt"  # KerasTuner's project folder inside OUT
_IDENTITY = ("model", "data", "tuner", "epochs", "objective", "fixed", "seed", "backend")
_NOT_IDENTITY = ("direction",)  # stored alongside, derived from the objective


def identity(settings):
    """The settings that must match to resume a search (max_trials may grow)."""
    ident = {k: settings[k] for k in _IDENTITY}
    if settings.get("prune"):  # absent when off, so earlier searches still resume
        ident["prune"] = True
    return ident


def read_config(out):
    return json.loads((pathlib.Path(out) / CONFIG_FILE).read_text())


def prepare_search_dir(out, ident, direction, *, overwrite, role):
    """Create or reopen the search directory `out`; True when a search is resumed.

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
    config = out / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; choose a directory.")
    if role == "worker":
        out.mkdir(parents=True, exist_ok=True)
        return config.exists()
    record = {**ident, "direction": direction}
    if config.exists() and not overwrite:
        saved = json.loads(config.read_text())
        kept = {k: v for k, v in saved.items() if k not in _NOT_IDENTITY}
        if kept != ident:
            diff = sorted(k for k in {*ident, *kept} if kept.get(k) != ident.get(k))
            raise ValueError(
                f"--out {out} holds a search with different settings ({', '.join(diff)}: "
                f"{ {k: kept.get(k) for k in diff} }). Use the same settings to resume it, "
                "another --out, or --overwrite to replace it."
            )
        if saved != record:  # a search from before the direction was stored
            config.write_text(json.dumps(record, indent=2))
        return True
    if out.is_dir() and any(out.iterdir()):
        if not config.exists():
            raise ValueError(
                f"--out {out} is a non-empty directory that holds no kzoo search; refusing "
                "to write into it. Choose a new or empty directory."
            )
        shutil.rmtree(out)  # overwrite=True on an earlier search
    out.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(record, indent=2))
    return False
