"""The lock of a run directory: one process writes a run at a time.

`RunLock` creates `kzoo-run.lock` with `O_CREAT | O_EXCL` and records the pid and
host; `kzoo.rundir.marker.claim` takes it before touching the directory.

Keras-free, like run_dir.py.
"""

import atexit
import datetime
import json
import os
import pathlib
import socket

from kzoo.runtime.errors import RunDirError

LOCK_FILE = "kzoo-run.lock"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _age_s(path):
    try:
        return datetime.datetime.now().timestamp() - path.stat().st_mtime
    except OSError:
        return float("inf")


class RunLock:
    """An exclusive lock file in a run directory (`O_CREAT | O_EXCL`).

    A lock left by a dead process on this host is stale and taken over. The
    processes a locking process starts (a search's chief and workers) inherit
    the right to write through `KZOO_LOCK_PID`.
    """

    ENV = "KZOO_LOCK_PID"
    _held = set()  # the lock files this process holds

    @classmethod
    def _grant_children(cls, grant):
        """Let the processes started from now on write for this one (or no longer)."""
        pids = set(os.environ.get(cls.ENV, "").split())
        pids = pids | {str(os.getpid())} if grant else pids - {str(os.getpid())}
        if pids:
            os.environ[cls.ENV] = " ".join(sorted(pids))
        else:
            os.environ.pop(cls.ENV, None)

    def __init__(self, out):
        self.path = pathlib.Path(out) / LOCK_FILE
        self.owned = False

    def _holder(self):
        try:
            return json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None

    def acquire(self):
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None or not isinstance(holder, dict):
                    if _age_s(self.path) < 10:  # another process is writing its record now
                        raise RunDirError(
                            f"{self.path.parent} is being locked by another kzoo process; "
                            "wait for it, or choose another --out.") from None
                    self.path.unlink(missing_ok=True)  # killed between create and write
                    continue
                pid, host = holder.get("pid"), holder.get("host")
                ours = {os.getpid(), *(int(p) for p in os.environ.get(self.ENV, "").split()
                                       if p.isdigit())}
                if host == socket.gethostname() and pid in ours:
                    if pid == os.getpid():
                        self._grant_children(True)
                    return self  # this process (or the one that started it) holds it
                if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise RunDirError(
                    f"{self.path.parent} is being written by another kzoo process (pid {pid} "
                    f"on {host}, since {holder.get('started')}). Wait for it to finish or stop "
                    f"it, or choose another --out. If that process is gone, delete {self.path}."
                ) from None
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(record))
            self.owned = True
            RunLock._held.add(self.path)
            self._grant_children(True)
            atexit.register(self.release)
            return self
        raise RunDirError(f"Could not lock {self.path.parent}: {self.path} keeps reappearing.")

    def release(self):
        if self.owned:
            self.owned = False
            if (self._holder() or {}).get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            RunLock._held.discard(self.path)
            if not RunLock._held:
                self._grant_children(False)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()



class NoLock:
    """What `claim` gives the processes of a multi-process job that do not write."""

    owned = False

    def release(self):
        pass
