"""Regularization's own TensorBoard page: a layout for TensorBoard's Custom Scalars dashboard.

The `custom_scalars` plugin (TensorBoard 2.21, `plugins/custom_scalar`) draws
charts from a `Layout` proto that it reads from the runs' events, under the tag
`custom_scalars__config__`. Each chart holds regular expressions; each
expression is matched (`re.match`) against the tags of each run, run by run, so
one chart draws `epoch_loss` of `train` and of `validation` as two lines. When
several runs hold a layout, the plugin merges them in the order of the runs'
names: categories with the same title become one, and a chart equal to one
already there is dropped. kreg writes the same categories everywhere, so a
search's folder, where every execution may hold one, still opens on one page.

`tensorboard.plugins.custom_scalar.summary.pb` imports TensorFlow; the
`Summary` it builds is written here with TensorBoard's protos alone, so JAX and
PyTorch users get the page too.

The tags are the ones kreg and Keras write, each quantity under one tag:
`epoch_data_loss` and `epoch_penalty` (Keras's `TensorBoard` callback, or the
monitor where no board writes them), `epoch_train_error`, `epoch_error` (the
validation run's), `epoch_generalization_gap`, ... (`FitDiagnosis`), and the
monitor's `weights/PATH/...` and `dropout/NAME/rate`.
"""

import os

from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata
from tensorboard.util import tensor_util

from kreg import _events
from kreg import _io

# Sorts before the files TensorFlow and kreg name `events.out.tfevents.SECONDS...` and before the tuner's
# `events.out.tfevents.0.kreg-experiment`: TensorBoard's Python loader reads a run's files in name order and
# never goes back to an earlier one, so a file that never changes goes first.
FILE = "events.out.tfevents.0.kreg-custom-scalars"


def _chart(title, *regexes):
    """One chart: a line for each tag (of each run) that one of `regexes` matches from its start."""
    return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(regexes)))


BREAKDOWN = layout_pb2.Category(title="Regularization: data loss and penalty", chart=[
    _chart("Data loss, penalty and their sum, the loss (training and validation)",
           r"^epoch_(loss|data_loss|penalty)$"),
    _chart("Penalty: what the regularizers add to the loss", r"^epoch_penalty$"),
])
TRAIN_VS_VALIDATION = layout_pb2.Category(title="Training against validation", chart=[
    _chart("Loss on training and validation data", r"^epoch_loss$"),
    _chart("Data loss on training and validation data (the loss without the penalty)", r"^epoch_data_loss$"),
    _chart("Accuracy on training and validation data", r"^epoch_(.*_)?acc(uracy)?$"),
])
DIAGNOSIS = layout_pb2.Category(title="Fit diagnosis: underfitting or overfitting", chart=[
    _chart("Error on training and validation data", r"^epoch_(train_)?error$"),
    _chart("Generalization gap (validation minus training error) and avoidable bias (training error minus the "
           "baseline)", r"^epoch_(generalization_gap|avoidable_bias)$"),
    _chart("Verdict: 0 good fit, 1 underfitting, 2 overfitting", r"^epoch_fit_verdict$"),
])
WEIGHTS = layout_pb2.Category(title="Weights, layer by layer", chart=[
    _chart("Largest unit norm against its max-norm limit", r"^weights/.+/(max_unit_norm|max_norm_limit)$"),
    _chart("L2 norm of each kernel", r"^weights/.+/l2$"),
    _chart("L1 norm of each kernel", r"^weights/.+/l1$"),
    _chart("Fraction of each kernel's weights exactly 0, and below the small threshold",
           r"^weights/.+/(zero_fraction|small_fraction)$"),
    _chart("Dropout rate of each kreg Dropout layer", r"^dropout/.+/rate$"),
])
CATEGORIES = (BREAKDOWN, TRAIN_VS_VALIDATION, DIAGNOSIS, WEIGHTS)  # the page's order
MONITOR = (BREAKDOWN, TRAIN_VS_VALIDATION, WEIGHTS)  # what `RegularizationMonitor` and a search write
FIT = (TRAIN_VS_VALIDATION, DIAGNOSIS)  # what `FitDiagnosis` writes


def summary(layout):
    """The `Summary` that `tensorboard.plugins.custom_scalar.summary.pb(layout)` builds, without TensorFlow."""
    value = summary_pb2.Summary.Value(tag=metadata.CONFIG_SUMMARY_TAG, metadata=metadata.create_summary_metadata(),
                                      tensor=tensor_util.make_tensor_proto(layout.SerializeToString()))
    return summary_pb2.Summary(value=[value])


def read(directory):
    """The layout kreg wrote in `directory` (a run's folder), or None."""
    path = os.path.join(directory, FILE)
    if not os.path.exists(path):
        return None
    for event in _events.read(path):
        for value in event.summary.value:
            if value.tag == metadata.CONFIG_SUMMARY_TAG:
                return layout_pb2.Layout.FromString(tensor_util.make_ndarray(value.tensor).item())
    raise ValueError(f"{path} holds no custom-scalars layout: the file is damaged")


def write(directory, categories):
    """Writes `categories` into the run `directory`, with those already there, once.

    The run's layout is one file, replaced atomically and only when it gains a
    category: a second `fit` into the same folder, or a resumed search, leaves
    it as it is. Categories keep the page's order (`CATEGORIES`) whoever wrote
    them first.
    """
    existing = read(directory)
    kept = list(existing.category) if existing is not None else []
    titles = {c.title for c in [*kept, *categories]}
    ordered = [c for c in CATEGORIES if c.title in titles]
    others = [c for c in kept if c.title not in {known.title for known in CATEGORIES}]  # a later kreg's
    layout = layout_pb2.Layout(category=ordered + others)
    if layout != existing:
        _io.write_bytes(os.path.join(directory, FILE), _events.file_bytes(summary(layout)))
