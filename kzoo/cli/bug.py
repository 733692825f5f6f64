"""What the CLI does with a bug: any exception that is not a user's or the machine's
problem (`kzoo.cli._one_line`), from kzoo, Keras, a backend or any library.

It is never reported as the user's mistake: the traceback is printed, and, when the
command has a kzoo run or search directory, also written to `error.txt` there (the
terminal may be gone by the time someone reads the run); the last line names that
file and how to report the bug. The exit code is 1 (`kzoo.runtime.errors.EXIT_BUG`).
"""

import datetime
import os
import pathlib
import sys
import traceback

from kzoo import __version__
from kzoo.runtime.errors import EXIT_BUG, KzooError

# Not in the marker's list of kzoo's files (run_dir.KIND_FILES): `--overwrite` and a
# fresh resume leave it, so a file of that name is only ever replaced when it is ours.
ERROR_FILE = "error.txt"
# The first line of every error file kzoo writes: only such a file is ever replaced.
HEADER = "# kzoo crash report"


def _run_dir(args):
    """The kzoo directory (with kzoo's marker) this command writes, or None."""
    from kzoo.rundir import run_kind

    run = getattr(args, "resume", None) or getattr(args, "out", None)
    if not run:
        return None
    try:
        return pathlib.Path(run) if run_kind(run) is not None else None
    except (KzooError, OSError):
        return None


def _is_writer():
    try:
        from kzoo.runtime import processes

        return processes.is_writer()
    except Exception:  # the report of a bug must not fail on the report
        return True


def write_error_file(run, text):
    """Write `text` to `run/error.txt`; its path, or None when kzoo may not write it.

    An `error.txt` kzoo did not write (no kzoo header) is left as it is.
    """
    path = run / ERROR_FILE
    try:
        if path.is_symlink() or (path.exists() and not _ours(path)):
            return None
        tmp = run / f".tmp-{ERROR_FILE}.{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def _ours(path):
    try:
        with open(path) as f:
            return f.readline().rstrip("\n") == HEADER
    except (OSError, UnicodeDecodeError):
        return False


def report_bug(args, err, argv):
    """Print `err`'s traceback (and keep it in the run directory); returns EXIT_BUG."""
    trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    sys.stderr.write(trace)
    run = _run_dir(args)
    path = None
    if run is not None and _is_writer():
        now = datetime.datetime.now(datetime.timezone.utc)
        path = write_error_file(run, (
            f"{HEADER}\n{now:%Y-%m-%d %H:%M:%S} UTC, kzoo {__version__}, "
            f"python {sys.version.split()[0]}\ncommand: {' '.join(['kzoo', *argv])}\n\n{trace}"
        ))
    kept = f"its traceback is above and in {path}" if path else "its traceback is above"
    print(
        f"kzoo {args.command}: internal error: this is a bug in kzoo or a library it uses, "
        f"not a problem with your command; {kept}. Please report it to the kzoo "
        "maintainers with that traceback and the output of `kzoo env`.",
        file=sys.stderr,
    )
    return EXIT_BUG
