"""`kzoo tune --tensorboard`: each trial's curves and the HParams dashboard's data,
on every backend, without TensorFlow.

KerasTuner writes HParams only on the TensorFlow backend (its
`_configure_tensorboard_dir` returns early otherwise). Here, under `OUT/tb/`:
- `trial_<id>/train`, `trial_<id>/validation`: the trial's curves
  (`kzoo.callbacks.TensorBoardLogger`, resumed with the trial);
- `trial_<id>/`: the session (the trial's hyperparameters, its status, and its
  `objective`: the trial's score, as trials.csv), rewritten when the trial ends;
- `OUT/tb/`: the experiment (every hyperparameter and the metrics), rewritten
  when a trial ends, so the dashboard's columns follow the space as it grows.

The HParams plugin's protos are built here (its `summary.py` imports TensorFlow).
"""

import os
import pathlib
import time

from kzoo.rundir.files import TENSORBOARD_DIR

TB_DIR = TENSORBOARD_DIR
HPARAMS_FILE = "events.out.tfevents.0000000000.hparams.kzoo"  # rewritten whole
OBJECTIVE = "objective"
# The dashboard's metric columns: (run group inside the trial, tag).
METRICS = (("", OBJECTIVE), ("train", "epoch_loss"), ("validation", "epoch_loss"))


def log_dir(out):
    return pathlib.Path(out) / TB_DIR


def trial_logger(tb_dir, trial_id):
    """The `TensorBoardLogger` of one trial."""
    from kzoo.callbacks.tensorboard import TensorBoardLogger

    return TensorBoardLogger(str(pathlib.Path(tb_dir) / f"trial_{trial_id}"))


def _summary(tag, plugin_data):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, types_pb2
    from tensorboard.plugins.hparams import metadata

    return summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(plugin_data),
        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.0]),
    )


def _write_file(directory, values_at_steps):
    """Write `[(step, [Summary.Value])]` as one new event file (atomically)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    os.makedirs(directory, exist_ok=True)
    path = pathlib.Path(directory) / HPARAMS_FILE
    tmp = path.with_name(".tmp-" + path.name)
    with open(tmp, "wb") as f:
        records = RecordWriter(f)
        records.write(event_pb2.Event(wall_time=time.time(),
                                      file_version="brain.Event:2").SerializeToString())
        for step, values in values_at_steps:
            event = event_pb2.Event(wall_time=time.time(), step=step,
                                    summary=summary_pb2.Summary(value=values))
            records.write(event.SerializeToString())
    os.replace(tmp, path)


def _value(v):
    """A hyperparameter's value as the HParams plugin takes it (bool, number or string)."""
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def write_hparams(tb_dir, oracle, rows):
    """The experiment and one session per ended trial (`rows`: `Recorder.rows()`)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    space = [hp.name for hp in oracle.get_space().space]
    trials = oracle.trials
    rows = [{**r, "_hparams": dict(trials[r["trial_id"]].hyperparameters.values)}
            for r in rows if r["trial_id"] in trials]
    names = list(space) + sorted({k for r in rows for k in r.get("_hparams", {})} - set(space))
    infos = []
    for name in names:
        values = [r["_hparams"][name] for r in rows if r["_hparams"].get(name) is not None]
        if values and all(isinstance(v, bool) for v in values):
            kind = api_pb2.DATA_TYPE_BOOL
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                            for v in values):
            kind = api_pb2.DATA_TYPE_FLOAT64
        else:
            kind = api_pb2.DATA_TYPE_STRING
        infos.append(api_pb2.HParamInfo(name=name, type=kind))
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(group=g, tag=t)) for g, t in METRICS]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics,
                                    time_created_secs=time.time())
    _write_file(tb_dir, [(0, [_summary("_hparams_/experiment",
                                       plugin_data_pb2.HParamsPluginData(experiment=experiment))])])
    status = {"COMPLETED": api_pb2.STATUS_SUCCESS, "FAILED": api_pb2.STATUS_FAILURE,
              "INVALID": api_pb2.STATUS_FAILURE, "STOPPED": api_pb2.STATUS_UNKNOWN}
    for row in rows:
        if row["status"] not in status:
            continue  # running: written when it ends
        start = plugin_data_pb2.SessionStartInfo(group_name=f"trial_{row['trial_id']}",
                                                 start_time_secs=time.time())
        for name, v in row["_hparams"].items():
            v = _value(v)
            if isinstance(v, bool):
                start.hparams[name].bool_value = v
            elif isinstance(v, (int, float)):
                start.hparams[name].number_value = v
            elif v is not None:
                start.hparams[name].string_value = v
        end = plugin_data_pb2.SessionEndInfo(status=status[row["status"]],
                                             end_time_secs=time.time())
        values = [
            _summary("_hparams_/session_start_info",
                     plugin_data_pb2.HParamsPluginData(session_start_info=start)),
            _summary("_hparams_/session_end_info",
                     plugin_data_pb2.HParamsPluginData(session_end_info=end)),
        ]
        if row.get("score") is not None:
            values.append(summary_pb2.Summary.Value(tag=OBJECTIVE,
                                                    simple_value=float(row["score"])))
        step = max(int(row.get("epochs_run") or 1) - 1, 0)
        _write_file(pathlib.Path(tb_dir) / f"trial_{row['trial_id']}", [(step, values)])
