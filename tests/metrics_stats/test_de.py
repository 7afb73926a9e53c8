"""Tests of sklearn_dgex.de (moderated t, BH, agreement scores, the DE protocol) and of
benchmarks/de_report.py."""

import doctest
import importlib
import math
import pathlib
import sys
import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.metrics import (
    accuracy_score,
    fbeta_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

from sklearn_dgex import de
from sklearn_dgex.de import (
    agreement_scores,
    benjamini_hochberg,
    de_agreement,
    fit_f_dist,
    moderated_ttest,
    select_clusters,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _de_report():
    """benchmarks/de_report.py; ``benchmarks`` is a package at the repository root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("benchmarks.de_report")


# --------------------------------------------------------------------------- #
# An independent, gene-by-gene transcription of Smyth (2004) / limma
# --------------------------------------------------------------------------- #
def _reference_limma(a, b):
    """lmFit + eBayes for a two-group design, one gene at a time, with scipy primitives."""
    n_a, n_b, n_genes = a.shape[0], b.shape[0], a.shape[1]
    d = n_a + n_b - 2
    log_fc, s2 = np.empty(n_genes), np.empty(n_genes)
    for g in range(n_genes):
        log_fc[g] = b[:, g].mean() - a[:, g].mean()
        rss = np.sum((a[:, g] - a[:, g].mean()) ** 2) + np.sum((b[:, g] - b[:, g].mean()) ** 2)
        s2[g] = rss / d
    # fitFDist: moments of log s2 (Smyth 2004, eqs. in section 6.2)
    floor = 1e-5 * np.median(s2)
    e = [math.log(max(v, floor)) - special.digamma(d / 2) + math.log(d / 2) for v in s2]
    e_mean = sum(e) / n_genes
    e_var = sum((x - e_mean) ** 2 for x in e) / (n_genes - 1) - special.polygamma(1, d / 2)
    if e_var > 0:
        # trigamma is decreasing: bracket the root, solve with Brent (not Newton).
        half_d0 = optimize.brentq(lambda y: special.polygamma(1, y) - e_var, 1e-8, 1e8, xtol=1e-14)
        d0 = 2 * half_d0
        s0 = math.exp(e_mean + special.digamma(d0 / 2) - math.log(d0 / 2))
    else:
        d0, s0 = math.inf, float(np.mean(np.maximum(s2, floor)))
    t, p = np.empty(n_genes), np.empty(n_genes)
    df_total = min(d + d0, d * n_genes)
    for g in range(n_genes):
        post = s2[g] if d0 == 0 else (s0 if math.isinf(d0) else (d0 * s0 + d * s2[g]) / (d0 + d))
        t[g] = log_fc[g] / math.sqrt(post * (1 / n_a + 1 / n_b))
        p[g] = 2 * stats.t.sf(abs(t[g]), df_total)
    return {"log_fc": log_fc, "s2": s2, "d0": d0, "s0": s0, "t": t, "p": p, "df_total": df_total}


def _two_groups(rng, n_a=5, n_b=7, n_genes=400, n_de=40, effect=1.5):
    # Gene-specific variances drawn from a scaled inverse chi-square: the model's prior.
    sigma2 = 0.25 * 6 / rng.chisquare(6, size=n_genes)
    a = 7 + rng.normal(size=(n_a, n_genes)) * np.sqrt(sigma2)
    b = 7 + rng.normal(size=(n_b, n_genes)) * np.sqrt(sigma2)
    b[:, :n_de] += effect
    return a, b


def test_moderated_ttest_matches_stepwise_reference(rng):
    a, b = _two_groups(rng)
    res = moderated_ttest(a, b)
    ref = _reference_limma(a, b)
    assert res.df_residual == a.shape[0] + b.shape[0] - 2
    assert np.isfinite(res.df_prior) and res.df_prior > 0
    np.testing.assert_allclose(res.df_prior, ref["d0"], rtol=1e-7)
    np.testing.assert_allclose(res.s2_prior, ref["s0"], rtol=1e-7)
    np.testing.assert_allclose(res.df_total, ref["df_total"], rtol=1e-7)
    np.testing.assert_allclose(res.log_fc, ref["log_fc"], rtol=1e-12)
    np.testing.assert_allclose(res.s2, ref["s2"], rtol=1e-10)
    np.testing.assert_allclose(res.t, ref["t"], rtol=1e-7)
    np.testing.assert_allclose(res.p_value, ref["p"], rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(res.adj_p_value, stats.false_discovery_control(ref["p"]), rtol=1e-6)
    # Shrinkage pulls each variance towards s0^2, never past it.
    lo, hi = np.minimum(res.s2, res.s2_prior), np.maximum(res.s2, res.s2_prior)
    assert np.all((res.s2_post >= lo - 1e-12) & (res.s2_post <= hi + 1e-12))


def test_matches_values_from_the_inmoose_port_of_limma():
    # Reference numbers computed once with inmoose 0.9.1 (a Python port of R's limma):
    # eBayes(lmFit(expr, design = ~ group)) on exactly this data; column "group B".
    rng = np.random.default_rng(3)
    sigma2 = 0.25 * 6 / rng.chisquare(6, size=300)
    a = 7 + rng.normal(size=(5, 300)) * np.sqrt(sigma2)
    b = 7 + rng.normal(size=(7, 300)) * np.sqrt(sigma2)
    b[:, :30] += 1.5
    res = moderated_ttest(a, b)
    genes = [0, 1, 29, 30, 31, 299]
    t_limma = [6.519136643617869, 6.401444087082914, 3.8786112802895265, -0.6526278641176625,
               -0.05718025565363827, -1.1068793987085257]  # fmt: skip
    p_limma = [3.6001615183041626e-06, 4.5633242713549132e-06, 1.0673573902586779e-03,
               5.2208771594724668e-01, 9.5501955979276543e-01, 2.8264358364053133e-01]  # fmt: skip
    assert res.df_prior == pytest.approx(8.352894953419352, rel=1e-9)
    assert res.s2_prior == pytest.approx(0.24139125439290743, rel=1e-9)
    assert res.df_total == pytest.approx(18.35289495341935, rel=1e-9)
    np.testing.assert_allclose(res.t[genes], t_limma, rtol=1e-9)
    np.testing.assert_allclose(res.p_value[genes], p_limma, rtol=1e-9)


def test_zero_prior_df_gives_the_ordinary_pooled_t(rng):
    a, b = _two_groups(rng, n_a=4, n_b=6, n_genes=50)
    res = moderated_ttest(a, b, df_prior=0)
    ref = stats.ttest_ind(b, a, equal_var=True)
    np.testing.assert_allclose(res.t, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(res.p_value, ref.pvalue, rtol=1e-8)
    assert res.df_total == 8


@pytest.mark.parametrize("df_prior", [1e12, np.inf])
def test_huge_prior_df_puts_the_prior_variance_in_place_of_each_genes(rng, df_prior):
    a, b = _two_groups(rng, n_a=3, n_b=3, n_genes=30)
    prior = 0.37
    res = moderated_ttest(a, b, df_prior=df_prior, s2_prior=prior)
    expected_t = (b.mean(0) - a.mean(0)) / math.sqrt(prior * (1 / 3 + 1 / 3))
    np.testing.assert_allclose(res.s2_post, prior, rtol=1e-9)
    np.testing.assert_allclose(res.t, expected_t, rtol=1e-9)
    # limma caps the df at the pooled residual df of all genes (4 x 30).
    assert res.df_total == 120
    np.testing.assert_allclose(res.p_value, 2 * stats.t.sf(np.abs(expected_t), 120), rtol=1e-8)


def test_no_extra_spread_gives_infinite_prior_df_and_the_mean_variance(rng):
    df_prior, s2_prior = fit_f_dist(np.full(100, 0.5), df=6)
    assert df_prior == np.inf and s2_prior == pytest.approx(0.5)
    # Every gene the same profile up to a shift: equal variances, no spread at all.
    base = rng.normal(size=(8, 1))
    data = base + rng.normal(size=(1, 30))
    res = moderated_ttest(data[:4], data[4:])
    assert res.df_prior == np.inf
    np.testing.assert_allclose(res.s2_post, res.s2_prior)
    assert res.df_total == 6 * 30


@pytest.mark.parametrize(("d0", "s0", "d"), [(4.0, 0.3, 4), (20.0, 1.5, 10), (2.5, 0.05, 158)])
def test_fit_f_dist_recovers_the_prior_of_scaled_chi2_variances(d0, s0, d):
    rng = np.random.default_rng(1)
    sigma2 = s0 * d0 / rng.chisquare(d0, size=(3, 40_000))
    s2 = sigma2 * rng.chisquare(d, size=sigma2.shape) / d
    df_prior, s2_prior = fit_f_dist(s2, d)
    assert df_prior.shape == (3,)
    np.testing.assert_allclose(df_prior, d0, rtol=0.12)
    np.testing.assert_allclose(s2_prior, s0, rtol=0.05)


def test_trigamma_inverse_inverts_trigamma():
    x = np.array([1e-8, 1e-6, 1e-3, 0.1, 1.0, 10.0, 1e4, 1e7, 1e9])
    y = de._trigamma_inverse(x)
    np.testing.assert_allclose(special.polygamma(1, y), x, rtol=1e-6)
    assert np.isnan(de._trigamma_inverse(np.array([-1.0]))[0])


def test_batched_sets_equal_separate_tests(rng):
    a = rng.normal(size=(4, 6, 80))
    b = rng.normal(size=(4, 5, 80)) + 0.3
    batched = moderated_ttest(a, b)
    assert batched.t.shape == (4, 80) and batched.df_prior.shape == (4,)
    for r in range(4):
        single = moderated_ttest(a[r], b[r])
        np.testing.assert_allclose(batched.t[r], single.t, rtol=1e-12)
        np.testing.assert_allclose(batched.adj_p_value[r], single.adj_p_value, rtol=1e-12)
        np.testing.assert_allclose(batched.df_prior[r], single.df_prior, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_a": np.ones(5), "data_b": np.ones((3, 5))}, "data_a must be 2-D"),
        ({"data_a": np.ones((2, 5)), "data_b": np.ones((3, 4))}, "same genes"),
        ({"data_a": np.ones((1, 5)), "data_b": np.ones((1, 5))}, "at least 3 samples"),
        ({"data_a": np.full((2, 3), np.nan), "data_b": np.ones((2, 3))}, "NaN or infinite"),
        ({"data_a": np.ones((2, 5)), "data_b": np.ones((2, 5)), "df_prior": 3.0}, "s2_prior"),
        ({"data_a": np.ones((2, 5)), "data_b": np.ones((2, 5)), "df_prior": -1.0}, ">= 0"),
        ({"data_a": np.ones((2, 5)), "data_b": np.ones((2, 5)), "s2_prior": 1.0}, "both"),
    ],
)
def test_moderated_ttest_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        moderated_ttest(**kwargs)


# --------------------------------------------------------------------------- #
# Benjamini-Hochberg
# --------------------------------------------------------------------------- #
def test_benjamini_hochberg_equals_scipy(rng):
    p = rng.uniform(size=(6, 300)) ** 3
    p[0, :5] = p[0, 10]  # ties
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p, axis=-1))
    np.testing.assert_allclose(
        benjamini_hochberg(p, axis=0), stats.false_discovery_control(p, axis=0)
    )


def test_benjamini_hochberg_skips_nans_like_r(rng):
    p = rng.uniform(size=50) ** 2
    p[[3, 17]] = np.nan
    adjusted = benjamini_hochberg(p)
    assert np.isnan(adjusted[[3, 17]]).all()
    keep = ~np.isnan(p)
    np.testing.assert_allclose(adjusted[keep], stats.false_discovery_control(p[keep]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        benjamini_hochberg([0.2, 1.5])


# --------------------------------------------------------------------------- #
# Agreement scores
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_agreement_scores_equal_scikit_learn(rng, zero_division):
    true = rng.uniform(size=(24, 60)) < rng.uniform(0, 0.5, size=(24, 1))
    pred = rng.uniform(size=(24, 60)) < rng.uniform(0, 0.5, size=(24, 1))
    # degenerate rows: nothing called anywhere, everything called, one side empty
    true[0], pred[0] = False, False
    true[1], pred[1] = True, True
    true[2], pred[2] = False, True
    true[3], pred[3] = True, False
    scores = agreement_scores(true, pred, zero_division=zero_division)
    for r in range(24):
        t, p = true[r], pred[r]
        for beta in (0.5, 1, 2):
            expected = fbeta_score(t, p, beta=beta, zero_division=zero_division)
            assert scores[f"f{beta:g}"][r] == pytest.approx(expected, abs=1e-12)
        kw = {"zero_division": zero_division}
        assert scores["precision"][r] == pytest.approx(precision_score(t, p, **kw), abs=1e-12)
        assert scores["recall"][r] == pytest.approx(recall_score(t, p, **kw), abs=1e-12)
        assert scores["accuracy"][r] == pytest.approx(accuracy_score(t, p), abs=1e-12)
        with warnings.catch_warnings():  # single-class rows make scikit-learn warn
            warnings.simplefilter("ignore")
            expected_mcc = matthews_corrcoef(t, p)
        assert scores["mcc"][r] == pytest.approx(expected_mcc, abs=1e-12)
        assert scores["tp"][r] + scores["fp"][r] + scores["fn"][r] + scores["tn"][r] == 60


def test_agreement_scores_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        agreement_scores(np.zeros((2, 3), bool), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="zero_division"):
        agreement_scores(np.zeros(3, bool), np.zeros(3, bool), zero_division=0.5)


# --------------------------------------------------------------------------- #
# The protocol's fast internals against the public, direct computation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("half", [3, 20])  # gather path and matrix-product path
def test_protocol_calls_equal_moderated_ttest_then_bh(rng, half):
    group_a = rng.normal(7, 1, size=(150, 120)) * rng.uniform(0.2, 1.5, 120)
    group_b = rng.normal(7, 1, size=(150, 120)) * rng.uniform(0.2, 1.5, 120)
    group_b[:, :30] += 1.0
    sums_a, sums_b = de._GroupSums([group_a]), de._GroupSums([group_b])
    random = np.random.RandomState(0)
    sets_a, sets_b = sums_a.draw(random, half, 25), sums_b.draw(random, half, 25)
    assert (sets_a[1] is None) == (half * de._GATHER_RATIO < 150)
    calls = de._de_calls(sums_a, sums_b, sets_a, sets_b, 0, alpha=0.05)
    direct = moderated_ttest(group_a[sets_a[0]], group_b[sets_b[0]])
    np.testing.assert_array_equal(calls, direct.adj_p_value < 0.05)
    assert calls.sum() > 0


def test_sample_sets_are_balanced_distinct_and_uniform():
    sums = de._GroupSums([np.zeros((10, 1))])
    picks, _ = sums.draw(np.random.RandomState(0), 4, 5000)
    assert all(len(set(row)) == 4 for row in picks[:100])
    counts = np.bincount(picks.ravel(), minlength=10) / picks.size
    np.testing.assert_allclose(counts, 0.1, atol=0.01)


# --------------------------------------------------------------------------- #
# Clustering and the end-to-end protocol
# --------------------------------------------------------------------------- #
def _clustered_profiles(rng, sizes=(150, 130, 60), n_genes=150, spread=1.0):
    centres = rng.normal(8, spread, size=(len(sizes), n_genes))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    noise_sd = rng.uniform(0.3, 0.8, size=n_genes)
    Y = centres[labels] + rng.normal(size=(labels.size, n_genes)) * noise_sd
    return Y, labels


def test_select_clusters_finds_two_planted_clusters(rng):
    Y, labels = _clustered_profiles(rng)
    clusters = select_clusters(Y, min_cluster_size=100, max_clusters=6, random_state=0)
    found = {frozenset(labels[clusters.indices_a]), frozenset(labels[clusters.indices_b])}
    assert found == {frozenset({0}), frozenset({1})}  # the third is too small
    assert {len(clusters.indices_a), len(clusters.indices_b)} == {150, 130}
    with pytest.raises(ValueError, match="min_cluster_size"):
        select_clusters(Y, min_cluster_size=200, max_clusters=4)


def test_de_agreement_ranks_a_less_noisy_model_higher(rng):
    Y, _ = _clustered_profiles(rng, sizes=(120, 120), spread=0.3)
    preds = {
        "good": Y + rng.normal(0, 0.15, Y.shape),
        "poor": Y + rng.normal(0, 0.6, Y.shape),
    }
    res = de_agreement(Y, preds, sample_sizes=(8, 40), n_repeats=150, random_state=0)
    assert res.info["models"] == ["good", "poor"] and res.info["n_genes"] == 150
    assert len(res.scores["f1"]) == 2 * 2 * 150
    for size in (8, 40):
        assert np.median(res.get("n_de_measured", "good", size)) > 0
        for metric in ("f0.5", "f1", "f2", "accuracy", "mcc"):
            good, poor = res.get(metric, "good", size), res.get(metric, "poor", size)
            assert np.all((good >= -1) & (good <= 1))
            assert np.mean(good) > np.mean(poor), (metric, size)
    comparisons = res.comparisons
    assert len(comparisons["p_value"]) == 2 * 5  # sizes x metrics x one pair
    assert np.all(comparisons["p_value"] < 1e-6)
    assert np.all(comparisons["median_difference"] >= 0)
    # A perfect "model" agrees perfectly with the measured calls.
    # A perfect "model" agrees perfectly; sets with no DE gene at all score
    # F = zero_division and MCC = 0, as scikit-learn does.
    for zero_division in (0.0, 1.0):
        perfect = de_agreement(
            Y,
            {"copy": Y},
            sample_sizes=(8,),
            n_repeats=40,
            zero_division=zero_division,
            random_state=0,
        )
        some_de = perfect.get("n_de_measured", "copy", 8) > 0
        assert 0 < some_de.sum() < 40
        assert np.all(perfect.get("accuracy", "copy", 8) == 1)
        np.testing.assert_array_equal(perfect.get("f1", "copy", 8)[some_de], 1.0)
        np.testing.assert_array_equal(perfect.get("f1", "copy", 8)[~some_de], zero_division)
        np.testing.assert_array_equal(perfect.get("mcc", "copy", 8), some_de.astype(float))


def test_de_agreement_is_reproducible_and_accepts_known_groups(rng):
    Y, labels = _clustered_profiles(rng, sizes=(60, 60), n_genes=40)
    preds = {"noisy": Y + rng.normal(0, 0.5, Y.shape)}
    kwargs = {"sample_sizes": (6,), "n_repeats": 30, "min_cluster_size": 30}
    first = de_agreement(Y, preds, random_state=3, **kwargs)
    second = de_agreement(Y, preds, random_state=3, **kwargs)
    np.testing.assert_array_equal(first.scores["mcc"], second.scores["mcc"])
    groups = (np.flatnonzero(labels == 0), np.flatnonzero(labels == 1))
    known = de_agreement(Y, preds, groups=groups, random_state=3, **kwargs)
    assert known.clusters.n_clusters is None
    np.testing.assert_array_equal(known.clusters.indices_b, groups[1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Y_pred": {}}, "at least one model"),
        ({"Y_pred": {"m": np.zeros((5, 5))}}, "shape of Y_true"),
        ({"sample_sizes": (7,)}, "even numbers"),
        ({"sample_sizes": (200,)}, "needs 100 profiles per group"),
        ({"groups": ([0, 1], [1, 2])}, "disjoint"),
    ],
)
def test_de_agreement_rejects_bad_input(rng, change, message):
    Y, _ = _clustered_profiles(rng, sizes=(60, 60), n_genes=20)
    kwargs = {
        "Y_true": Y,
        "Y_pred": {"m": Y},
        "sample_sizes": (6,),
        "n_repeats": 2,
        "min_cluster_size": 30,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        de_agreement(**kwargs)


def test_de_agreement_rejects_nan_predictions(rng):
    Y, _ = _clustered_profiles(rng, sizes=(60, 60), n_genes=20)
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"Y_pred\['m'\] contains NaN"):
        de_agreement(Y, {"m": bad}, sample_sizes=(6,), n_repeats=2)


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(de, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 10 and failures == 0


# --------------------------------------------------------------------------- #
# benchmarks/de_report.py
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def two_model_result():
    rng = np.random.default_rng(5)
    Y, _ = _clustered_profiles(rng, sizes=(80, 80), n_genes=60, spread=0.4)
    preds = {"good": Y + rng.normal(0, 0.2, Y.shape), "poor": Y + rng.normal(0, 0.8, Y.shape)}
    return de_agreement(Y, preds, sample_sizes=(6, 12, 24), n_repeats=60, random_state=0)


def test_report_writes_tables_csvs_and_non_empty_pngs(two_model_result, tmp_path):
    de_report = _de_report()
    paths = de_report.write_de_report(two_model_result, tmp_path)
    figures = [paths[k] for k in ("f1", "mcc", "f1_differences", "mcc_differences")]
    for png in figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    table = paths["table"].read_text()
    for needle in ("| 6 | good |", "| 24 | poor |", "good − poor", "Wilcoxon p", "MCC"):
        assert needle in table
    with open(paths["scores"]) as handle:
        assert sum(1 for _ in handle) == 1 + 2 * 3 * 60
    with open(paths["comparisons"]) as handle:
        assert sum(1 for _ in handle) == 1 + 3 * 5


def test_report_table_numbers_match_the_result(two_model_result):
    de_report = _de_report()
    lines = de_report.de_scores_table(two_model_result).splitlines()
    row = next(line for line in lines if line.startswith("| 12 | good |"))
    f1 = two_model_result.get("f1", "good", 12)
    lo, med, hi = np.percentile(f1, [10, 50, 90])
    assert f"{med:.3f} [{lo:.3f}, {hi:.3f}]" in row
    with pytest.raises(ValueError, match="two or more models"):
        single = de_agreement(
            np.repeat(np.eye(2) * 5, 30, axis=0) + np.random.default_rng(0).normal(size=(60, 2)),
            {"m": np.random.default_rng(1).normal(size=(60, 2))},
            sample_sizes=(6,),
            n_repeats=3,
            random_state=0,
        )
        de_report.plot_de_differences(single, "f1", "unused.png")


@pytest.mark.parametrize(
    ("plot", "metric", "figure"),
    [
        ("plot_de_scores", "f1", 7),
        ("plot_de_differences", "f1", 8),
        ("plot_de_scores", "mcc", 9),
        ("plot_de_differences", "mcc", 10),
    ],
)
def test_report_figures_carry_the_study_figure_numbers(
    two_model_result, monkeypatch, plot, metric, figure
):
    # The study draws the scores of F1 and MCC in its Figs. 7 and 9 and their paired
    # differences in Figs. 8 and 10.
    de_report = _de_report()
    drawn = []
    monkeypatch.setattr(de_report, "_save", lambda fig, path: drawn.append(fig) or path)
    getattr(de_report, plot)(two_model_result, metric, "unused.png")
    (axes,) = drawn[0].axes
    assert f"the D-GEX study's Fig. {figure})" in axes.get_title()


def test_report_docstring_examples_run():
    de_report = _de_report()
    failures, attempted = doctest.testmod(de_report, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 5 and failures == 0


def test_worked_example_script_runs(tmp_path, capsys):
    _de_report()  # puts the repository root on sys.path
    de_example = importlib.import_module("benchmarks.de_example")
    report = de_example.main(
        ["--n-samples", "700", "--n-targets", "60", "--repeats", "10", "--out", str(tmp_path)]
    )
    assert report.result.info["models"] == ["Ridge", "KNN"]
    assert "Ridge − KNN" in capsys.readouterr().out
    assert (tmp_path / "de_mcc_differences.png").stat().st_size > 5000


def test_docs_page_examples_run():
    page = ROOT / "docs" / "differential_expression.rst"
    failures, attempted = doctest.testfile(
        str(page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert attempted > 10 and failures == 0
