"""benchmarks/run.py --de and --scheduler on the smoke preset."""

import json

import pytest

from benchmarks import run as bench_run


def _results(out):
    return {row["model"]: row for row in json.loads((out / "results.json").read_text())["models"]}


def test_de_option_writes_the_agreement_report(tmp_path):
    out = tmp_path / "de"
    argv = ["--preset", "smoke", "--models", "RidgeCV,KNN-GE", "--n-samples", "800"]
    argv += ["--de", "--de-repeats", "20"]
    assert bench_run.main([*argv, "--out", str(out), "--quiet"]) == 0
    table = (out / "de_table.md").read_text()
    assert "RidgeCV" in table and "KNN-GE" in table
    for figure in ("de_f1.png", "de_mcc.png"):
        assert (out / figure).stat().st_size > 1000


@pytest.mark.xdist_group("dask")
def test_scheduler_option_trains_networks_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    local, remote = tmp_path / "local", tmp_path / "dask"
    models = ["--models", "RidgeCV,D-GEX-dense"]
    assert bench_run.main(["--preset", "smoke", *models, "--out", str(local), "--quiet"]) == 0
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",  # loopback only
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        argv = ["--preset", "smoke", *models, "--scheduler", address, "--out", str(remote)]
        assert bench_run.main([*argv, "--quiet"]) == 0
    here, there = _results(local), _results(remote)
    assert set(here) == set(there) == {"RidgeCV", "D-GEX-dense"}
    assert there["D-GEX-dense"]["mmae"] == pytest.approx(here["D-GEX-dense"]["mmae"], rel=1e-5)
