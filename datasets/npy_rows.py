"""`.npy` features read by row: `Shards` (the files) and `NpyRows` (a split of
them, standardised as it is read).

`NpyRows` stands where `Dataset.x_train` (`x_val`, `x_test`) holds an array:
it has `len`, `shape`, `ndim` and `dtype` (float32), and `rows[idx]` returns the
standardised float32 examples `idx` (an int, a slice, or an index array).
Only those rows are read, in sorted order, one positioned read (`os.preadv`)
per run of consecutive rows, straight into the batch. Not `np.memmap`: on
recent kernels a fault on a mapped file maps its whole large folio, so a
batch of scattered rows mapped most of a file into the process (measured:
256 rows of a 300 MB file put 224 MB in its RSS). `np.asarray(rows)` reads
the whole split.
"""

import os

import numpy as np

from kzoo.runtime.errors import DataError

# Rows per block of a sequential pass (checks, statistics): about this many bytes.
BLOCK_BYTES = 4 << 20
# Rows of a streamed split that the data rules and the diagnosis measure (`sample`).
SAMPLE_ROWS = 4096
SAMPLE_BYTES = 16 << 20


def parse_header(f):
    """`(shape, fortran_order, dtype)` from an open `.npy` stream at its start (it is left
    at the data); ValueError for a format numpy's readers do not know."""
    version = np.lib.format.read_magic(f)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format {version}")
    return readers[version](f, max_header_size=10_000)


def read_header(path):
    """`(shape, dtype, data offset)` of an `.npy` file, from its header alone."""
    with open(path, "rb") as f:
        try:
            shape, fortran, dtype = parse_header(f)
        except ValueError as err:
            raise DataError(f"{path} is not a readable .npy file ({err}); re-save it with "
                            "np.save.") from None
        offset = f.tell()
    if dtype.hasobject:
        raise DataError(f"{path} holds Python objects (dtype {dtype}); save numeric arrays.")
    if fortran and len(shape) > 1:
        raise DataError(f"{path} is stored in Fortran order, which cannot be read by row; "
                        "re-save it with np.save(path, np.ascontiguousarray(x)).")
    size = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if os.path.getsize(path) < size:
        raise DataError(f"{path} is truncated: its header declares {shape} of {dtype} "
                        f"({size} bytes), the file holds {os.path.getsize(path)}; re-save it.")
    return tuple(shape), dtype, offset


class Shards:
    """The `x` files of a folder, in order, read by row (see the module docstring)."""

    def __init__(self, paths):
        self.paths = [str(p) for p in paths]
        headers = [read_header(p) for p in self.paths]
        self.lengths = [h[0][0] for h in headers]
        self.dtype = headers[0][1]
        self._offsets = [h[2] for h in headers]
        self.offsets = np.cumsum([0, *self.lengths])
        self.n = int(self.offsets[-1])
        self.example_shape = tuple(headers[0][0][1:])
        self.row_bytes = int(np.prod(self.example_shape)) * self.dtype.itemsize
        self._fds = {}

    def __getstate__(self):  # by path; each process opens its own descriptors
        return {"paths": self.paths}

    def __setstate__(self, state):
        self.__init__(state["paths"])

    def __del__(self):
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)

    def join(self, other):
        """One `Shards` of both (other's rows follow self's)."""
        return Shards(self.paths + other.paths)

    def _fd(self, k):
        if k not in self._fds:
            self._fds[k] = os.open(self.paths[k], os.O_RDONLY)
        return self._fds[k]

    def _read_local(self, k, local, out):
        """Rows `local` (ascending) of file `k` into `out` (raw dtype)."""
        breaks = np.flatnonzero(np.diff(local) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(local)], strict=True):
            view = memoryview(out[lo:hi]).cast("B")
            at = self._offsets[k] + int(local[lo]) * self.row_bytes
            if os.preadv(self._fd(k), [view], at) != len(view):
                raise DataError(f"{self.paths[k]} ended early (truncated while in use?); "
                                "re-save it.")

    def read(self, rows):
        """float32 examples of the ascending global `rows`."""
        raw = np.empty((len(rows), *self.example_shape), self.dtype)
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        for k in np.unique(shard):  # ascending rows: each file's rows are one run of raw
            lo, hi = np.searchsorted(shard, [k, k + 1])
            self._read_local(k, rows[lo:hi] - self.offsets[k], raw[lo:hi])
        return raw.astype("float32", copy=False)

    def blocks(self, rows=None):
        """`(global_rows, float32 block)` over the files in order, about
        `BLOCK_BYTES` at a time; only `rows` (ascending) when given."""
        step = max(1, BLOCK_BYTES // max(self.row_bytes, 1))
        rows = np.arange(self.n) if rows is None else rows
        for start in range(0, self.n, step):
            wanted = rows[np.searchsorted(rows, start):np.searchsorted(rows, start + step)]
            if len(wanted):
                yield wanted, self.read(wanted)


class NpyRows:
    """Examples `rows` of `shards`, as float32, optionally standardised.

    Args:
        shards: the `Shards` they come from.
        rows: global row numbers, in the split's order.
        mean, std: the training split's statistics (broadcast over the last axis),
            or None for raw values.
        channel: add a channel axis (2-D files read as one-channel sequences).
    """

    streamed = True  # what kzoo checks for, to route these through a PyDataset

    def __init__(self, shards, rows, mean=None, std=None, channel=False):
        self.shards = shards
        self.rows = np.asarray(rows, "int64")
        self.mean, self.std, self.channel = mean, std, channel
        self.nonfinite = None  # counted by the loader's pass (kzoo.datasets._checks)

    @property
    def shape(self):
        return (len(self.rows), *self.shards.example_shape, *((1,) if self.channel else ()))

    @property
    def ndim(self):
        return len(self.shape)

    dtype = np.dtype("float32")

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self[np.asarray([key])][0]
        rows = self.rows[key]
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.shards.example_shape), "float32")
        out[order] = self.shards.read(rows[order])
        return self.prepare(out)

    def prepare(self, x):
        """Raw float32 rows as this split hands them out."""
        if self.channel:
            x = x[..., None]
        if self.mean is not None:
            x = ((x - self.mean) / self.std).astype("float32")
        return x

    def __array__(self, dtype=None, copy=None):
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self):
        return (f"NpyRows({len(self)} rows of {len(self.shards.paths)} .npy file(s), "
                f"shape {self.shape})")

    def with_statistics(self, mean, std):
        return NpyRows(self.shards, self.rows, mean, std, self.channel)

    def statistics(self):
        """Per-feature mean and std of these rows (over examples, and steps for
        sequences), from float64 block sums merged pairwise (Chan et al.), as
        `kzoo.datasets.standardize` computes them on an array."""
        count, mean, m2 = 0, 0.0, 0.0
        for _, block in self.shards.blocks(np.sort(self.rows)):
            if self.channel:
                block = block[..., None]
            b = block.reshape(-1, block.shape[-1]).astype("float64")
            n_b, mean_b = len(b), b.mean(axis=0)
            m2_b = ((b - mean_b) ** 2).sum(axis=0)
            delta, total = mean_b - mean, count + n_b
            mean = mean + delta * n_b / total
            m2 = m2 + m2_b + delta**2 * count * n_b / total
            count = total
        std = np.sqrt(m2 / count)
        shape = (1,) * (self.ndim - 1) + (-1,)
        return mean.reshape(shape), std.reshape(shape)


def concat(a, b):
    """`np.concatenate([a, b])` for arrays, or one `NpyRows` of both."""
    if not getattr(a, "streamed", False) and not getattr(b, "streamed", False):
        return np.concatenate([a, b])
    if a.shards is b.shards:
        return NpyRows(a.shards, np.concatenate([a.rows, b.rows]), a.mean, a.std, a.channel)
    joined = a.shards.join(b.shards)
    rows = np.concatenate([a.rows, b.rows + a.shards.n])
    return NpyRows(joined, rows, a.mean, a.std, a.channel)


def sample(x, max_rows=SAMPLE_ROWS):
    """An array as is; of streamed rows, at most `max_rows` (and `SAMPLE_BYTES`)
    evenly spaced ones: what the data rules and the diagnosis measure, where the
    whole split would not fit."""
    if not getattr(x, "streamed", False):
        return np.asarray(x)
    max_rows = min(max_rows, max(64, SAMPLE_BYTES // (4 * int(np.prod(x.shape[1:])))))
    if len(x) <= max_rows:
        return x[np.arange(len(x))]
    return x[np.linspace(0, len(x) - 1, max_rows).astype("int64")]
