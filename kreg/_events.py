"""TensorBoard event files, written and read without TensorFlow.

`tf.summary` needs TensorFlow; the files it writes do not. An event file is a
sequence of records, each a serialized `Event` proto framed as TFRecord frames
it (the length as a little-endian uint64, the masked CRC-32C of those 8 bytes,
the data, the masked CRC-32C of the data), the first event naming the format
(`file_version: "brain.Event:2"`). TensorBoard ships the protos, the summary
metadata of each plugin and the record framing (`RecordWriter`) in pure
Python, so kreg writes the same events with them: a JAX or PyTorch user of
kreg's callbacks and tuners logs to TensorBoard without loading TensorFlow,
and TensorBoard reads the same scalars, texts, histograms and HParams as from
`tf.summary`.
"""

import io
import itertools
import os
import socket
import struct
import time

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

_FILE_VERSION = "brain.Event:2"
_files = itertools.count()


def file_bytes(summary):
    """The bytes of a whole event file holding one `Summary` at step 0 (to write atomically)."""
    buffer = io.BytesIO()
    records = RecordWriter(buffer)
    records.write(event_pb2.Event(wall_time=time.time(), file_version=_FILE_VERSION).SerializeToString())
    records.write(event_pb2.Event(wall_time=time.time(), step=0, summary=summary).SerializeToString())
    return buffer.getvalue()


def read(path):
    """The `Event`s of the event file at `path`, in order.

    A record cut short at the end (a writer killed mid-write) ends the file, as
    it does for TensorBoard; a checksum that does not match is an error.
    """
    with open(path, "rb") as f:
        content = f.read()
    events, at = [], 0
    while at + 12 <= len(content):
        header = content[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        end = at + 12 + length + 4
        if end > len(content):
            break
        data = content[at + 12:end - 4]
        if (struct.unpack("<I", content[at + 8:at + 12])[0] != masked_crc32c(header)
                or struct.unpack("<I", content[end - 4:end])[0] != masked_crc32c(data)):
            raise ValueError(f"{path} is damaged: the record at byte {at} fails its checksum")
        events.append(event_pb2.Event.FromString(data))
        at = end
    return events


def scalars(values):
    """A `Summary` of `{tag: float}`: the records `tf.summary.scalar` writes (float32 tensors, scalars metadata)."""
    summary = summary_pb2.Summary()
    metadata = scalar_metadata.create_summary_metadata(display_name=None, description=None)
    for tag, value in values.items():
        summary.value.add(tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(np.float32(value)))
    return summary


def text(tag, value):
    """A `Summary` of one string: the record `tf.summary.text` writes."""
    summary = summary_pb2.Summary()
    summary.value.add(tag=tag, metadata=text_metadata.create_summary_metadata(display_name=None, description=None),
                      tensor=tensor_util.make_tensor_proto(value))
    return summary


class Writer:
    """Appends events to a new event file in `directory`, as `tf.summary.create_file_writer(directory)` does.

    Each `write` reaches the file at once (flushed), so a run killed mid-way
    keeps every epoch it logged. The file's name has TensorFlow's form
    (`events.out.tfevents.TIME.HOST.PID.N`) with a `.kreg.v2` ending, so it sorts
    beside the files Keras's TensorBoard callback writes there and never
    shares a name with one.
    """

    def __init__(self, directory):
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{next(_files)}.kreg.v2"
        self.path = os.path.join(directory, name)
        self._records = RecordWriter(open(self.path, "xb"))
        self._append(event_pb2.Event(wall_time=time.time(), file_version=_FILE_VERSION))

    def _append(self, event):
        self._records.write(event.SerializeToString())
        self._records.flush()

    def write(self, summary, step):
        """Writes one `Summary` proto at `step`."""
        self._append(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def close(self):
        self._records.close()
