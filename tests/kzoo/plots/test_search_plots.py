"""The search plots: axes named after the objective, best so far in its direction."""

import json

import pytest

from kzoo.plots import search as plots


def test_best_so_far_follows_the_direction():
    assert plots.best_so_far([0.3, 0.1, 0.2], "min") == [0.3, 0.1, 0.1]
    assert plots.best_so_far([0.3, 0.1, 0.5], "max") == [0.3, 0.3, 0.5]


@pytest.mark.parametrize("direction", ["min", "max"])
def test_plots_name_the_objective_and_draw_best_in_its_direction(direction, tmp_path,
                                                                  monkeypatch):
    (tmp_path / "tune_config.json").write_text(
        json.dumps({"objective": "val_mae", "direction": direction})
    )
    (tmp_path / "trials.csv").write_text(
        "trial_id,status,score,wall_time_s,learning_rate,finished_at\n"
        "0,COMPLETED,0.5,1.0,0.001,2026-12-01T10:00:01\n"
        "1,COMPLETED,0.2,1.0,0.01,2026-12-01T10:00:02\n"
        "2,COMPLETED,0.9,1.0,0.003,2026-12-01T10:00:03\n"
    )
    figures = {}
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig)
                        and save(fig, path))
    written = plots.plot_search(tmp_path)
    assert {p.name for p in written} == {"score_vs_learning_rate.png", "search_over_time.png"}
    for fig in figures.values():
        assert fig.axes[0].get_ylabel() == "val_mae"
    over_time = figures["search_over_time.png"].axes[0]
    step = [line for line in over_time.get_lines() if "best so far" in line.get_label()][0]
    expected = [0.5, 0.2, 0.2] if direction == "min" else [0.5, 0.5, 0.9]
    assert list(step.get_ydata()) == expected
