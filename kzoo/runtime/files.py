"""The one durable writer of kzoo: atomic bytes, text and JSON files.

A write goes to a temporary file in the target's directory, which is flushed
and fsynced, then renamed over the final name (`os.replace`, atomic on POSIX
and Windows), then the directory is fsynced so the rename itself survives a
power cut. A kill at any moment leaves either the old file or the new one,
never a mix; a failed write removes its temporary file and re-raises.
"""

import json
import os
import pathlib
import tempfile


def fsync_dir(path):
    """Make a rename or a new file in directory `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_with(path, write, suffix=""):
    """Write `path` atomically with `write(tmp_path)`, a function that writes the
    whole file at the path it is given (e.g. `model.save`): a temporary file in the
    same directory, fsynced and renamed, then the directory fsynced. A failure or a
    kill leaves the old file or none, never a torn one."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path, data):
    """Write `data` (bytes) to `path` atomically: tmp file, fsync, rename, fsync dir."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write_with(path, write)


def atomic_write_text(path, text, encoding="utf-8"):
    """`atomic_write_bytes` of `text` encoded with `encoding`."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path, obj, indent=1, **kwargs):
    """`atomic_write_text` of `json.dumps(obj, indent=indent, **kwargs)`."""
    atomic_write_text(path, json.dumps(obj, indent=indent, **kwargs))
