"""TensorBoard's own readers over a log directory, for .ci/tensorboard_check.py:
`EventAccumulator` (what its scalar, histogram and text dashboards show) and the
HParams plugin's backend (what its dashboard lists)."""

import csv
import logging


def accumulator(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # its note on each purge (the resumed run's rewrite of the killed run's last steps)
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0,
                                                      "tensors": 0})
    acc.Reload()
    return acc


def scalars(path):
    """{tag: [(step, value)]} of the run in `path`, as TensorBoard shows it."""
    acc = accumulator(path)
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def dashboard_groups(tb_dir):
    """What TensorBoard's HParams dashboard lists: its own backend over the files."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tb_dir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(tb_dir))
    ctx = backend_context.Context(base_plugin.TBContext(
        logdir=str(tb_dir), multiplexer=mux, data_provider=provider))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100, aggregation_type=api_pb2.AGGREGATION_AVG,
        allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE])
    groups = list_session_groups.Handler(context.RequestContext(), ctx, "", request).run()
    return {g.name: g for g in groups.session_groups}


def hparam_value(v):
    """A plugin's `Value` as Python."""
    kind = v.WhichOneof("kind")
    return {"bool_value": v.bool_value, "number_value": v.number_value,
            "string_value": v.string_value}[kind]
