"""An existing run opened to be read: the checks of `kzoo report DIR` and of
`kzoo train --resume DIR`, before anything loads or is written."""

import pathlib

from kzoo.rundir.files import CONFIG_FILE, MARKER_FILE, REPORTABLE_FILES, SUMMARY_FILE
from kzoo.rundir.marker import check_out, read_marker
from kzoo.rundir.readers import read_json_object
from kzoo.runtime.errors import RunDirError


def check_report_dir(run_dir):
    """Raise RunDirError unless `run_dir` is a kzoo directory `kzoo report` can read."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a directory. Pass a run directory written by kzoo.")
    if read_marker(run_dir) is None and not any(
        (run_dir / name).exists() for name in REPORTABLE_FILES
    ):
        raise RunDirError(
            f"{run_dir} is not a kzoo run: it has no {MARKER_FILE} and none of "
            f"{', '.join(REPORTABLE_FILES)}. Pass the --out directory of kzoo train or tune."
        )
    for name in (SUMMARY_FILE, CONFIG_FILE):
        if (run_dir / name).exists():
            read_json_object(run_dir / name)


def load_run_config(run_dir, fields=None):
    """Settings of a run directory's config.json, for `kzoo train --resume`.

    Args:
        run_dir: a kzoo train run directory.
        fields: the names config.json may hold (`TrainConfig` fields); others
            mean a foreign or hand-edited file.

    Raises:
        RunDirError: `run_dir` is not a kzoo train run, or its config.json is
            missing, corrupt, foreign or lacks `model`/`data`.
    """
    run_dir = pathlib.Path(run_dir)
    check_out(run_dir, "train", resume=True)
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunDirError(
            f"{run_dir} has no {CONFIG_FILE}: the run was killed before it was written, so "
            f"there is nothing to resume. Start it again with kzoo train --out {run_dir} "
            "--overwrite."
        )
    config = read_json_object(path)
    missing = [k for k in ("model", "data") if not isinstance(config.get(k), str)]
    unknown = sorted(set(config) - set(fields)) if fields is not None else []
    if missing or unknown:
        what = (f"lacks {', '.join(missing)}" if missing
                else f"has settings kzoo train does not know ({', '.join(unknown)})")
        raise RunDirError(
            f"{path} {what}: it is not the config.json of a kzoo train run. Resume only a "
            "directory written by kzoo train."
        )
    return config
