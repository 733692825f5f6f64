"""`kzoo tune --tensorboard`: each trial's curves and the HParams plugin's data,
without TensorFlow, read back with TensorBoard's own reader, after a kill and a resume."""

import sys
import types

import keras
import pytest
from _tiny_search import TINY, tiny_data

from kzoo.rundir import read_csv
from kzoo.tuning.api import tune

# The trial's callback and the HParams protos are backend-free (the writer's backends are
# tested in tests/kzoo/training/test_train_tensorboard.py on jax and torch): one backend
# is enough, torch (a trial there takes a fraction of jax's compile time).
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="backend-free search files; one backend is enough: torch (ends first in CI)",
)


def _accumulator(path):
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))  # TF stub
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


class _KillOnce(keras.callbacks.Callback):
    """Interrupts the search once, in the second trial's third epoch."""

    fired = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        trials = len(list(self.out.glob("kt/trial_*")))
        if not _KillOnce.fired and trials == 2 and self.epoch == 2:
            _KillOnce.fired = True
            raise KeyboardInterrupt


def test_tune_tensorboard_curves_and_hparams_survive_a_kill(tmp_path):
    from tensorboard.plugins.hparams import api_pb2, metadata

    kill = _KillOnce()
    kill.out = tmp_path
    settings = dict(out=tmp_path, max_trials=2, epochs=3, fixed=TINY, verbose=0,
                    tensorboard=True, objective="val_loss")
    with pytest.raises(KeyboardInterrupt):
        tune("mlp", tiny_data(), callbacks=[kill], **settings)
    tune("mlp", tiny_data(), **settings)

    rows = read_csv(tmp_path / "trials.csv")
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    root = _accumulator(tmp_path / "tb")
    (content,) = root.PluginTagToContent(metadata.PLUGIN_NAME).values()
    experiment = metadata.parse_experiment_plugin_data(content)
    names = {h.name for h in experiment.hparam_infos}
    assert {"learning_rate", "batch_size", "depth", "width"} <= names
    for row in rows:
        trial = tmp_path / "tb" / f"trial_{int(row['trial_id'])}"
        session = _accumulator(trial)
        contents = session.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            contents["_hparams_/session_start_info"])
        end = metadata.parse_session_end_info_plugin_data(contents["_hparams_/session_end_info"])
        assert end.status == api_pb2.STATUS_SUCCESS
        assert start.hparams["learning_rate"].number_value == pytest.approx(row["learning_rate"])
        assert start.hparams["batch_size"].number_value == row["batch_size"]
        assert start.hparams["norm"].string_value == row["norm"]
        (objective,) = session.Scalars("objective")
        assert objective.value == pytest.approx(row["score"], rel=1e-6)
        # the curves: each epoch once (the killed trial resumed), the objective among them
        val = _accumulator(trial / "validation").Scalars("epoch_loss")
        assert [e.step for e in val] == [0, 1, 2]
        assert min(e.value for e in val) == pytest.approx(row["score"], rel=1e-5)
        assert [e.step for e in _accumulator(trial / "train").Scalars("epoch_loss")] == [0, 1, 2]
    groups = dashboard_groups(tmp_path / "tb")
    assert sorted(groups) == [f"trial_{int(r['trial_id'])}" for r in rows]
    for row in rows:
        group = groups[f"trial_{int(row['trial_id'])}"]
        metrics = {(m.name.group, m.name.tag): m.value for m in group.metric_values}
        assert metrics[("", "objective")] == pytest.approx(row["score"], rel=1e-6)
        assert ("validation", "epoch_loss") in metrics
        assert group.hparams["width"].number_value == row["width"]


def test_missing_tensorboard_is_one_usage_error_before_writing(tmp_path, monkeypatch):
    from kzoo.runtime.errors import UsageError

    for name in ("tensorboard", "tensorboard.compat.proto.event_pb2",
                 "tensorboard.summary.writer.record_writer"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UsageError, match=r"kzoo tune --tensorboard needs the tensorboard"):
        tune("mlp", tiny_data(), out=tmp_path / "s", max_trials=1, epochs=1, fixed=TINY,
             verbose=0, tensorboard=True)
    assert not (tmp_path / "s").exists()


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
