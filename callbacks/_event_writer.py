"""TensorBoard event files without TensorFlow: `EventWriter`.

The records are written with the `tensorboard` package's own pieces (the
`Event`/`Summary` protos of `tensorboard.compat.proto`, the plugins' summary
metadata, and the TFRecord framing of `tensorboard.summary.writer.record_writer`),
into a plain Python file. Why this writer, and not tensorboardX or
`torch.utils.tensorboard`: the `tensorboard` package is what shows the files, so
a user who looks at them has it already; it holds the HParams plugin's protos
(`tensorboard.plugins.hparams`), which a search needs; it is the one pin the
`tensorflow` extra already carries (no second protobuf writer in the
environment); and it behaves the same on jax, torch and tensorflow installs.
`torch.utils.tensorboard` exists only on torch installs, and tensorboardX would
be a second package beside the one that reads the files. Its
`EventFileWriter` is not used because it opens files through
`tensorboard.compat.tf`, which imports TensorFlow whenever it is installed.

Resuming: a writer reopens the newest event file kzoo wrote in its directory,
cuts off a record a kill left half-written, and appends. Before the first event
it writes it puts a `SessionLog.START` at that event's step, which tells
TensorBoard (and `EventAccumulator`) to drop the earlier events at that step or
later: the ones a killed run wrote after its last checkpoint, which the resumed
run writes again. Steps must rise within one directory, so each directory holds
one kind of step (epochs, or optimizer steps).
"""

import os
import socket
import struct
import time

from kzoo.runtime.errors import UsageError

SUFFIX = ".kzoo"  # kzoo's event files: the ones a resumed writer may reopen and cut
INSTALL = "pip install 'kzoo[tensorboard]' (or pip install tensorboard)"


def require(what):
    """Raise a one-line UsageError naming `what` unless `tensorboard` imports."""
    try:
        import tensorboard.compat.proto.event_pb2  # noqa: F401
        import tensorboard.summary.writer.record_writer  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{what} needs the tensorboard package, which is not installed: {INSTALL}, "
            "or drop it."
        ) from None


def _valid_length(path):
    """The byte length of the complete, checksummed records at the start of `path`."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    good = 0
    with open(path, "rb") as f:
        data = f.read()
    while good + 12 <= len(data):
        header = data[good : good + 8]
        (length,) = struct.unpack("<Q", header)
        end = good + 12 + length + 4
        if end > len(data) or struct.unpack("<I", data[good + 8 : good + 12])[0] != masked_crc32c(
            header
        ):
            break
        body = data[good + 12 : good + 12 + length]
        if struct.unpack("<I", data[end - 4 : end])[0] != masked_crc32c(body):
            break
        good = end
    return good


class EventWriter:
    """Append TensorBoard events (scalars, histograms, text, raw summaries) to one
    directory (a TensorBoard "run")."""

    def __init__(self, log_dir, purge=True):
        require("TensorBoard logging")
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._pb = event_pb2
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        mine = sorted(
            n for n in os.listdir(self.log_dir) if "tfevents" in n and n.endswith(SUFFIX)
        )
        self.resumed = bool(mine) and purge
        if mine:
            self.path = os.path.join(self.log_dir, mine[-1])
            size = _valid_length(self.path)
            self._file = open(self.path, "r+b")  # closed in close()
            self._file.truncate(size)
            self._file.seek(size)
        else:
            name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}{SUFFIX}"
            self.path = os.path.join(self.log_dir, name)
            self._file = open(self.path, "wb")
        self._records = RecordWriter(self._file)
        self._started = False
        if not mine:
            self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event):
        self._records.write(event.SerializeToString())

    def _start(self, step):
        if not self._started:
            self._started = True
            if self.resumed:  # drop what a killed run wrote at this step or later
                log = self._pb.SessionLog(status=self._pb.SessionLog.START)
                self._write(self._pb.Event(wall_time=time.time(), step=step, session_log=log))

    def summary(self, step, *values):
        """Write `Summary.Value` protos as one event at `step`."""
        from tensorboard.compat.proto import summary_pb2

        step = int(step)
        self._start(step)
        summary = summary_pb2.Summary(value=list(values))
        self._write(self._pb.Event(wall_time=time.time(), step=step, summary=summary))

    def scalars(self, step, values):
        """`values`: {tag: number}; one event at `step`."""
        from tensorboard.compat.proto import summary_pb2

        self.summary(step, *(
            summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()
        ))

    def histogram(self, tag, values, step, bins=30):
        import numpy as np
        from tensorboard.compat.proto import summary_pb2

        values = np.asarray(values, dtype="float64").ravel()
        values = values[np.isfinite(values)]
        if not values.size:
            return
        counts, edges = np.histogram(values, bins=min(bins, max(values.size, 1)))
        histo = summary_pb2.HistogramProto(
            min=float(values.min()), max=float(values.max()), num=float(values.size),
            sum=float(values.sum()), sum_squares=float(np.sum(values * values)),
            bucket_limit=[float(e) for e in edges[1:]], bucket=[float(c) for c in counts],
        )
        self.summary(step, summary_pb2.Summary.Value(tag=tag, histo=histo))

    def text(self, tag, text, step):
        """Text for the Text dashboard (markdown)."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.text import metadata

        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING, string_val=[text.encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        )
        meta = metadata.create_summary_metadata(display_name=tag, description="")
        self.summary(step, summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor))

    def flush(self):
        self._records.flush()

    def close(self):
        if self._file is not None and not self._file.closed:
            self._records.flush()
            self._file.close()
