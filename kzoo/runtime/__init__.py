"""kzoo's foundation: what every other layer may import, importing nothing of kzoo.

- `backend`: choosing the Keras backend before keras loads; clearing a session.
- `errors`: kzoo's error kinds and the CLI's exit codes.
- `devices`: how many devices, and the data-parallel engine around a block.
- `processes`: the one process API: joining a multi-process job, which process
  writes, barriers, agreement between processes.
- `files`: the one durable writer (temporary file, fsync, rename, fsync dir).
- `checks`: the value checks (an int that is not a bool, a number > 0, ...).

Keras-free at import (`import kzoo` loads `backend` and `errors`), and the
library (`zoo/`, `callbacks/`, `datasets/`, `kzoo.fit`, `kzoo.schedules`) and
the application build on it (tests/test_import_layers.py enforces both).
"""
