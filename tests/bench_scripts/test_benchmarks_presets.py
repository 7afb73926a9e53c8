"""The presets that reproduce the studies, checked against the studies without training."""

import pytest
import torch
from study_tables import TABLE_1

from benchmarks import run as bench_run
from benchmarks.presets import PRESETS, STUDY_TABLE_1_PARAMETERS, STUDY_TOWERS
from sklearn_dgex.nn import TAAF

# The D-GEX study: 942 landmarks -> 9,518 targets, as two networks of 4,759.
STUDY_SHAPE = (942, 9518)


class _StudyData:
    n_landmarks, n_targets = STUDY_SHAPE


def _estimator(spec, preset, data=_StudyData):
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

    params = bench_run.network_params(spec, preset, data, epochs=None, device="cpu", seed=0)
    cls = DGEXRegressor if spec.kind == "dgex" else FlexibleMLPRegressor
    estimator = cls(**params)
    estimator._validate_params()
    return estimator


def _networks_on_meta(estimator, n_in, n_targets):
    """Every network of the estimator, built on torch's meta device (no memory, no time)."""
    from sklearn_dgex._base import _split_sizes

    modules = []
    for n_out in _split_sizes(n_targets, estimator.n_target_splits):
        module_class, kwargs = estimator._module_class_and_kwargs(n_in, n_out)
        with torch.device("meta"):
            modules.append(module_class(n_in=n_in, n_out=n_out, **kwargs))
    return modules


def _n_parameters(module):
    return sum(parameter.numel() for parameter in module.parameters())


def test_table_1_of_the_presets_is_the_study_table():
    assert {towers: row[2] for towers, row in TABLE_1.items()} == STUDY_TABLE_1_PARAMETERS


def test_paper_preset_builds_table_1_networks_with_taaf_outputs():
    preset = PRESETS["paper"]
    towers_seen = set()
    for spec in preset.models:
        if spec.kind != "dgex" or "towers" not in spec.params or spec.params["arch"] == "dense":
            continue
        estimator = _estimator(spec, preset)
        modules = _networks_on_meta(estimator, *STUDY_SHAPE)
        assert len(modules) == 2, spec.name  # a pair, each on half of the targets
        towers = spec.params["towers"]
        neurons_per_tower, _, parameters = TABLE_1[towers]
        for module in modules:
            assert module.width == neurons_per_tower, spec.name
            assert _n_parameters(module) == parameters, spec.name
            assert isinstance(module.output_act, TAAF), spec.name
            assert module.output_act.base == "sigmoid", spec.name
        towers_seen.add(towers)
    assert towers_seen == set(STUDY_TOWERS)


def test_towers_preset_on_a_gpu_has_taaf_outputs():
    preset = bench_run.scaled_preset(PRESETS["towers"], "cuda")

    class Data:
        n_landmarks, n_targets = preset.data.n_landmarks, preset.data.n_targets

    budgets = set()
    for spec in preset.models:
        if spec.kind == "dgex":
            estimator = _estimator(spec, preset, Data)
            assert estimator.output_activation == "taaf_sigmoid", spec.name
            (module,) = _networks_on_meta(estimator, Data.n_landmarks, Data.n_targets)
            assert isinstance(module.output_act, TAAF), spec.name
            # The budget counts the TAAF outputs: no network exceeds it.
            assert _n_parameters(module) <= estimator.param_budget, spec.name
            budgets.add(estimator.param_budget)
    assert len(budgets) == 1


@pytest.mark.parametrize("name", ["smoke", "default"])
def test_reduced_presets_keep_the_linear_output(name):
    # Short runs on standardised targets train far better with a linear output
    # (docs/estimators.rst); only the presets that reproduce the study use TAAFo.
    for spec in PRESETS[name].models:
        if spec.kind == "dgex":
            assert _estimator(spec, PRESETS[name]).output_activation == "identity"


def _dry_run(capsys, *argv):
    assert bench_run.main([*argv, "--dry-run", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and "---" not in line]
    header = [cell.strip("| ") for cell in rows[0]]
    return lines[0], {row[0].strip("| "): dict(zip(header, row)) for row in rows[1:]}


def test_dry_run_of_the_paper_preset_shows_table_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first, rows = _dry_run(capsys, "--preset", "paper")
    assert "942 landmarks -> 9,518 targets" in first
    assert list(rows) == [spec.name for spec in PRESETS["paper"].models]
    table_1_rows = [name for name, row in rows.items() if row["Table 1"] != "—"]
    assert len(table_1_rows) == 36
    for name in table_1_rows:
        towers = int(name.rsplit("-", 1)[1])
        parameters = f"{TABLE_1[towers][2]:,}"
        assert rows[name]["Parameters"] == f"2 x {parameters}", name
        assert rows[name]["Table 1"] == f"{parameters} (equal)", name
        assert "taaf_sigmoid -> taaf_sigmoid" in rows[name]["Architecture"], name
        assert rows[name]["Optimizer"] == "nadam lr 0.0005"
        assert rows[name]["Schedule"].startswith("stepped: 0.0005 (1-400), 5e-05 (401-475)")
        assert (rows[name]["Epochs"], rows[name]["Batch"].strip(" |")) == ("600", "256")
    assert rows["RidgeCV"]["Parameters"] == "—"
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_dry_run_says_when_a_network_is_not_table_1s():
    from benchmarks.describe import describe_model
    from benchmarks.presets import ModelSpec

    spec = ModelSpec("CR-D-GEX-5", "dgex", {"arch": "cr", "towers": 5})
    params = {
        "param_budget": "study",
        "n_target_splits": 2,
        "output_activation": "identity",
    }
    description = describe_model(spec, params, *STUDY_SHAPE)
    assert description.table_1 == TABLE_1[5][2]
    assert description.parameters_per_network == (TABLE_1[5][2] - 3 * 4759,) * 2
    assert description.matches_table_1 is False


def test_dry_run_of_gpu_and_mlp_presets(capsys):
    # A GPU run is described on any machine.
    first, rows = _dry_run(capsys, "--preset", "towers", "--device", "cuda", "--models", "CR-*")
    assert "on cuda: 942 landmarks -> 4,759 targets" in first
    assert len(rows) == len(STUDY_TOWERS)
    assert all(row["Table 1"] == "—" for row in rows.values())  # not the study's budget
    _, rows = _dry_run(capsys, "--preset", "mlp-study", "--models", "MLP-baseline")
    (row,) = rows.values()
    assert row["Architecture"].startswith("MLP [256, 256, 256, 256]; leaky_relu(0.1) -> elu(0.01)")
    assert (row["Optimizer"], row["Schedule"], row["Batch"].strip(" |")) == (
        "adam lr 0.0001",
        "constant",
        "27",
    )


@pytest.mark.parametrize("n_targets", [40, 1000, 12_327])
def test_budget_width_is_the_width_of_the_dense_network(n_targets):
    # budget_width=W is the budget of the dense network of width W as the estimator
    # builds it (linear output unless the preset says otherwise), so that network
    # gets exactly width W on any data.
    from benchmarks.describe import describe_model

    class Data:
        n_landmarks = 934

    Data.n_targets = n_targets
    # One tower of width W has the dense network's weights.
    for name, model in (
        ("default", "D-GEX-dense"),
        ("smoke", "D-GEX-dense"),
        ("towers", "T-D-GEX-1"),
    ):
        preset = PRESETS[name]
        spec = next(spec for spec in preset.models if spec.name == model)
        width = spec.params["budget_width"]
        params = bench_run.network_params(spec, preset, Data, epochs=None, device="cpu", seed=0)
        description = describe_model(spec, params, Data.n_landmarks, n_targets)
        assert f" x {width:,} neurons" in description.architecture, (name, description)
