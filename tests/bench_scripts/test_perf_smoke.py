"""benchmarks/perf.py runs end to end on its smallest shape and prints its ratios.

No timing is asserted: speed targets are read from the benchmark's output.
"""

import io
import math
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import perf  # noqa: E402

pytestmark = pytest.mark.xdist_group("perf")


@pytest.fixture(scope="module")
def smoke_output():
    stream = io.StringIO()
    report = perf.main(["--shapes", "smoke", "--repeats", "1", "--device", "cpu"], stream=stream)
    return report, stream.getvalue()


def test_smoke_run_prints_every_section(smoke_output):
    _, text = smoke_output
    for heading in (
        "large matmul",
        "smoke: D-GEX dense",
        "smoke: D-GEX checkerboard",
        "smoke: flexible MLP",
        "smoke: optimizer step",
        "Speed targets",
    ):
        assert heading in text
    for variant in (
        "hand loop float32",
        "DGEXRegressor.fit float32",
        "FlexibleMLPRegressor.fit float32",
        "sklearn MLPRegressor float32 input",
        "sklearn MLPRegressor float64 input",
        "hand loop bf16 autocast, fused Adam",
        "DGEXRegressor.fit bf16",
    ):
        row = rf"^{re.escape(variant)}\s+\d+(\s+\d+\.\d\dx( \[[\d.-]+\])?){{2}}$"
        assert re.search(row, text, re.MULTILINE), variant
    assert "bf16 accuracy cost" in text
    assert "training memory estimate" in text
    assert f"capability {torch.backends.cpu.get_cpu_capability()}" in text


def test_every_target_has_a_finite_ratio_and_a_verdict(smoke_output):
    report, text = smoke_output
    labels = [row[0] for row in report.checks]
    assert any("fit / hand loop" in label for label in labels)
    assert any("sklearn MLP (float32)" in label for label in labels)
    assert any("bf16" in label for label in labels)
    for label, measured, _, _, _, verdict in report.checks:
        assert math.isfinite(measured) and measured > 0, label
        assert verdict in {"PASS", "MISS", "N/A"}
        assert label in text
    # The FLOP target concerns the representative shape only.
    flop_rows = [row for row in report.checks if "FLOP rate" in row[0]]
    assert flop_rows and all(row[-1] == "N/A" for row in flop_rows)


def test_flops_are_counted_per_executed_matmul():
    shape = perf.SMOKE_SHAPE
    network = perf.dgex_network(shape, "dense")
    with torch.device("meta"):
        module = network.module_factory()
    first = module.input_linear.weight.numel()
    # 2 (forward) + 2 (weight gradients) + 2 (input gradients, none for the data) per weight.
    expected = 6 * perf.matmul_weights(module) - 2 * first
    assert perf.training_flops_per_sample(network.module_factory, shape.n_in) == expected


def test_hand_loop_and_estimator_train_the_same_module():
    shape = perf.SMOKE_SHAPE
    for network in (perf.dgex_network(shape, "checkerboard"), perf.mlp_network(shape)):
        estimator = network.estimator_cls(
            **network.estimator_kwargs, **perf.training_settings(shape, "cpu")
        )
        X, Y = (t.numpy() for t in perf.make_data(shape, torch.device("cpu")))
        estimator.fit(X, Y)
        fitted = estimator.net_.module_
        fresh = network.module_factory()
        assert type(fitted) is type(fresh)
        assert repr(fitted) == repr(fresh)
        shapes = [p.shape for p in fresh.parameters()]
        assert [p.shape for p in fitted.parameters()] == shapes


def test_paper_section_runs_on_cpu_at_a_tiny_shape():
    # The CUDA-only section, exercised on CPU so that its code path is tested here.
    stream = io.StringIO()
    report = perf.Report(stream)
    tiny = perf.Shape("paper", 12, 10, (8, 8, 8), batch_size=8, n_rows=32, epochs=1)
    perf.bench_paper(report, torch.device("cpu"), tiny, gflops=1.0, batch_sizes=(8, 16))
    text = stream.getvalue()
    assert text.count("s per epoch") == 6  # 2 batch sizes x (tf32, bf16, estimator)
    assert all(row[-1] == "N/A" for row in report.checks)  # targets are for a GPU


def test_unknown_shape_is_refused():
    with pytest.raises(SystemExit, match="unknown shape 'huge'"):
        perf.main(["--shapes", "huge"], stream=io.StringIO())
