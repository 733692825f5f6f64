"""Memory-mapped `.npy` features, read by row: `Shards` (the files) and `NpyRows`
(a split of them, standardised as it is read).

`NpyRows` stands where `Dataset.x_train` (`x_val`, `x_test`) holds an array:
it has `len`, `shape`, `ndim` and `dtype` (float32), and `rows[idx]` returns the
standardised float32 examples `idx` (an int, a slice, or an index array), read
from the memory maps in sorted order. Nothing else of the files is loaded.
After each read the mapped pages are handed back to the kernel (`madvise`), so
the process's resident memory does not grow with the pages an epoch touched
(they stay in the page cache). `np.asarray(rows)` reads the whole split.
"""

import mmap

import numpy as np

# Rows per block of a sequential pass (checks, statistics): about this many bytes.
BLOCK_BYTES = 16 << 20


class Shards:
    """The `x` files of a folder, in order, opened as read-only memory maps."""

    def __init__(self, paths, arrays):
        self.paths = list(paths)
        self.arrays = list(arrays)
        self.offsets = np.cumsum([0, *(len(a) for a in self.arrays)])
        self.n = int(self.offsets[-1])
        self.example_shape = tuple(self.arrays[0].shape[1:])
        self.row_bytes = int(np.prod(self.example_shape)) * self.arrays[0].dtype.itemsize

    @classmethod
    def open(cls, paths):
        return cls(paths, [np.load(p, mmap_mode="r", allow_pickle=False) for p in paths])

    def __getstate__(self):  # by path: a memmap would pickle its whole content
        return {"paths": self.paths}

    def __setstate__(self, state):
        self.__init__(state["paths"], [np.load(p, mmap_mode="r") for p in state["paths"]])

    def join(self, other):
        """One `Shards` of both (other's rows follow self's)."""
        return Shards(self.paths + other.paths, self.arrays + other.arrays)

    def read(self, rows):
        """float32 examples of the ascending global `rows`."""
        out = np.empty((len(rows), *self.example_shape), "float32")
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        for k in np.unique(shard):
            mine = shard == k
            out[mine] = self.arrays[k][rows[mine] - self.offsets[k]]
            self.release(k)
        return out

    def blocks(self, rows=None):
        """`(global_rows, float32 block)` over the files in order, about
        `BLOCK_BYTES` at a time; only `rows` (ascending) when given."""
        step = max(1, BLOCK_BYTES // max(self.row_bytes, 1))
        for k, array in enumerate(self.arrays):
            lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
            for start in range(lo, hi, step):
                stop = min(start + step, hi)
                if rows is None:
                    wanted = np.arange(start, stop)
                    block = np.asarray(array[start - lo:stop - lo], "float32")
                else:
                    wanted = rows[np.searchsorted(rows, start):np.searchsorted(rows, stop)]
                    if not len(wanted):
                        continue
                    block = np.asarray(array[wanted - lo], "float32")
                self.release(k)
                yield wanted, block

    def release(self, k):
        """Unmap the pages a read of file `k` mapped (they stay in the page cache)."""
        mm = getattr(self.arrays[k], "_mmap", None)
        if mm is not None and hasattr(mm, "madvise"):
            mm.madvise(mmap.MADV_DONTNEED)


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
