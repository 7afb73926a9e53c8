"""The L1000 landmark list and the split of expression tables into landmarks and targets."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_dgex.datasets import (
    LandmarkMatch,
    MissingLandmarksWarning,
    load_l1000_aliases,
    load_l1000_landmarks,
    make_expression,
    read_npz,
    split_landmarks,
)


def test_landmark_list_ships_with_the_package():
    landmarks = load_l1000_landmarks()
    assert landmarks.shape == (978, 2)
    assert list(landmarks.columns) == ["symbol", "entrez_id"]
    assert landmarks["symbol"].is_unique and landmarks["entrez_id"].is_unique
    assert landmarks["entrez_id"].dtype == np.int64
    assert landmarks.loc[landmarks["symbol"] == "TP53", "entrez_id"].item() == 7157
    # A copy on every call: callers cannot corrupt the next caller's list.
    landmarks.loc[0, "symbol"] = "changed"
    assert load_l1000_landmarks().loc[0, "symbol"] == "AARS"


def test_landmark_list_equals_the_shared_source(shared_data_dir):
    source = pd.read_csv(
        os.path.join(shared_data_dir, "l1000_landmarks_978.tsv"),
        sep="\t",
        header=None,
        names=["symbol", "entrez_id"],
    )
    pd.testing.assert_frame_equal(load_l1000_landmarks(), source, check_dtype=False)


def test_split_synthetic_frame_by_symbol():
    X, Y = make_expression(20, 942, 30, as_frame=True, random_state=0)
    data = pd.concat([Y.iloc[:, :10], X, Y.iloc[:, 10:]], axis=1)  # landmarks not first
    with pytest.warns(MissingLandmarksWarning, match="lacks 36 of 978 landmarks"):
        X_split, Y_split, match = split_landmarks(data, return_match=True)
    pd.testing.assert_frame_equal(X_split, X)
    pd.testing.assert_frame_equal(Y_split, Y)
    assert match.n_matched == 942 and len(match.missing) == 36
    assert match.n_landmarks == 978 and match.n_targets == 30
    assert match.fraction_matched == pytest.approx(942 / 978)
    assert not set(X_split.columns) & set(Y_split.columns)


def test_landmarks_follow_the_list_order_not_the_column_order():
    data = pd.DataFrame(np.arange(8.0).reshape(2, 4), columns=["T1", "B", "A", "T2"])
    X, Y = split_landmarks(data, landmarks=["A", "B"])
    assert list(X.columns) == ["A", "B"] and list(Y.columns) == ["T1", "T2"]
    assert X["A"].tolist() == [2.0, 6.0]


def test_split_by_entrez_id_accepts_numbers_and_text():
    landmarks = load_l1000_landmarks().iloc[:3]
    entrez = landmarks["entrez_id"].tolist()
    data = pd.DataFrame(
        np.ones((2, 4)), columns=[str(entrez[0]), f"{entrez[1]}.0", "999999999", "12345"]
    )
    with pytest.warns(MissingLandmarksWarning):
        X, Y = split_landmarks(data, landmarks=landmarks, id_type="entrez")
    assert list(X.columns) == [str(entrez[0]), str(entrez[1])]
    assert list(Y.columns) == ["999999999", "12345"]


def test_probe_level_duplicates():
    data = pd.DataFrame(
        [[1.0, 3.0, 5.0, 7.0, 9.0], [2.0, 4.0, 6.0, 8.0, 10.0]],
        columns=["p1", "p2", "p3", "p4", "p5"],
    )
    symbols = ["AARS", "AARS", "MYC", "MYC", None]
    with pytest.warns(MissingLandmarksWarning):
        X, Y, match = split_landmarks(
            data, landmarks=["AARS", "ABCB6"], gene_ids=symbols, return_match=True
        )
    assert X["AARS"].tolist() == [2.0, 3.0] and Y["MYC"].tolist() == [6.0, 7.0]
    assert list(Y.columns) == ["MYC"]
    assert match.n_collapsed == 2 and match.n_unannotated == 1
    X_first, Y_first = split_landmarks(
        data, landmarks=["AARS"], gene_ids=symbols, duplicates="first"
    )
    assert X_first["AARS"].tolist() == [1.0, 2.0] and Y_first["MYC"].tolist() == [5.0, 6.0]
    with pytest.raises(ValueError, match=r"2 gene id\(s\) label more than one column"):
        split_landmarks(data, landmarks=["AARS"], gene_ids=symbols, duplicates="error")


def test_gene_ids_series_is_aligned_on_column_names():
    data = pd.DataFrame(np.ones((1, 3)), columns=["p1", "p2", "p3"])
    symbols = pd.Series({"p3": "MYC", "p1": "AARS", "p2": "TP53"})
    X, Y = split_landmarks(data, landmarks=["AARS"], gene_ids=symbols)
    assert list(X.columns) == ["AARS"] and list(Y.columns) == ["TP53", "MYC"]


def test_mean_of_duplicates_keeps_float32_and_skips_nan():
    data = pd.DataFrame({"p1": [1.0, np.nan], "p2": [3.0, 4.0]}, dtype=np.float32)
    X, _ = split_landmarks(data, landmarks=["AARS"], gene_ids=["AARS", "AARS"])
    assert X.dtypes.iloc[0] == np.float32 and X["AARS"].tolist() == [2.0, 4.0]


def test_no_warning_when_all_landmarks_match():
    data = pd.DataFrame(np.ones((1, 3)), columns=["A", "B", "C"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, Y = split_landmarks(data, landmarks=["A", "B"])
    assert X.shape == (1, 2) and Y.shape == (1, 1)


def test_split_landmarks_errors():
    data = pd.DataFrame(np.ones((1, 2)), columns=["1007_s_at", "1053_at"])
    with pytest.raises(ValueError, match="pass gene_ids= when the columns are probe ids"):
        split_landmarks(data)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        split_landmarks(data.to_numpy())
    with pytest.raises(ValueError, match="id_type must be one of"):
        split_landmarks(data, id_type="ensembl")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        split_landmarks(data, duplicates="max")
    with pytest.raises(ValueError, match="gene_ids has 3 entries but data has 2 columns"):
        split_landmarks(data, gene_ids=["A", "B", "C"])
    with pytest.raises(ValueError, match="no 'entrez_id' column"):
        split_landmarks(data, landmarks=pd.DataFrame({"gene": ["A"]}), id_type="entrez")
    with pytest.raises(TypeError, match="not a single string"):
        split_landmarks(data, landmarks="AARS")


def test_landmarks_of_the_shared_microarray_data(shared_data_dir):
    """HG-U133A probes matched to the L1000 landmarks through their annotation."""
    data, meta = read_npz(
        os.path.join(shared_data_dir, "bladderbatch_hgu133a.npz"), return_meta=True
    )
    symbols = meta.genes["symbols"]
    with pytest.warns(MissingLandmarksWarning, match=r"\(934 matched\)"):
        _, _, listed_only = split_landmarks(
            data, gene_ids=symbols, aliases=False, return_match=True
        )
    # The 2009 annotation predates renamings such as GPR56 -> ADGRG1; the
    # aliases recover 34 of them, and CDC2 (CDK1) stays unmatched because it
    # names another gene too.
    with pytest.warns(MissingLandmarksWarning, match=r"\(968 matched\)"):
        X, Y, by_symbol = split_landmarks(data, gene_ids=symbols, return_match=True)
    # Entrez ids are stable, so they match almost every landmark.
    with pytest.warns(MissingLandmarksWarning, match=r"\(975 matched\)"):
        _, _, by_entrez = split_landmarks(
            data, gene_ids=meta.genes["entrez"], id_type="entrez", return_match=True
        )
    assert listed_only.n_matched == 934 and not listed_only.aliased
    assert by_symbol.n_matched == 968 and len(by_symbol.aliased) == 34
    assert by_entrez.n_matched == 975
    assert by_symbol.aliased["ADGRG1"] == "GPR56" and "CDK1" in by_symbol.missing
    # Every alias found the gene that the probes' own Entrez annotation names.
    entrez_of = load_l1000_landmarks().set_index("symbol")["entrez_id"]
    for landmark, name in by_symbol.aliased.items():
        probe_entrez = set(meta.genes.loc[symbols == name, "entrez"].astype(int))
        assert probe_entrez == {entrez_of[landmark]}, (landmark, name)
    assert X.shape == (57, 968) and Y.shape[0] == 57
    assert not set(X.columns) & set(Y.columns)
    assert by_symbol.n_unannotated + by_symbol.n_collapsed + X.shape[1] + Y.shape[1] == 22283


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ({"n": "int64", "b": "float64", "c": "float64"}, np.float64),
        ({"n": "int64", "b": "float32", "c": "float32"}, np.float64),
        ({"n": "float32", "b": "float64", "c": "float32"}, np.float64),
        ({"n": "bool", "b": "float32", "c": "float32"}, np.float32),
    ],
)
def test_mean_of_duplicates_never_rounds_to_the_first_column_dtype(dtypes, expected):
    values = {"n": [2, 3], "b": [2.5, 3.25], "c": [0.25, 0.5]}
    data = pd.DataFrame(values).astype(dtypes)
    _, Y = split_landmarks(data, landmarks=["N"], gene_ids=["N", "B", "B"])
    assert Y.dtypes.iloc[0] == expected
    assert Y["B"].tolist() == [1.375, 1.875]


# ----------------------------------------------------------------------------
# Aliases: retired and current symbols
# ----------------------------------------------------------------------------
RENAMED = {"AARS": "AARS1", "IKBKAP": "ELP1", "SQRDL": "SQOR", "H2AFV": "H2AZ2", "HN1L": "JPT2"}


def _today(columns):
    return [RENAMED.get(column, column) for column in columns]


def test_alias_table_ships_and_each_name_means_one_landmark():
    aliases = load_l1000_aliases()
    landmarks = load_l1000_landmarks()
    assert list(aliases.columns) == ["symbol", "entrez_id", "alias", "kind"]
    assert set(aliases["kind"]) == {"current", "alias"}
    assert aliases["alias"].is_unique
    assert not set(aliases["alias"]) & set(landmarks["symbol"])
    # symbol and Entrez id agree with the landmark list
    listed = dict(zip(landmarks["symbol"], landmarks["entrez_id"]))
    assert all(listed[s] == e for s, e in zip(aliases["symbol"], aliases["entrez_id"]))
    current = aliases[aliases["kind"] == "current"]
    assert current["symbol"].is_unique
    assert dict(zip(current["symbol"], current["alias"])).items() >= RENAMED.items()


def test_todays_symbols_match_the_listed_landmarks():
    landmarks = [*RENAMED, "TP53"]
    data = pd.DataFrame(np.arange(8.0).reshape(1, 8), columns=[*_today(landmarks), "X1", "X2"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every landmark matches: no warning
        X, Y, match = split_landmarks(data, landmarks=landmarks, return_match=True)
    assert list(X.columns) == landmarks  # the listed ids, in the list's order
    assert X.iloc[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(Y.columns) == ["X1", "X2"]
    assert match.aliased == RENAMED


def test_the_listed_symbol_wins_and_the_aliased_column_stays_a_target():
    data = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["AARS1", "AARS", "TP53"])
    X, Y, match = split_landmarks(data, landmarks=["AARS", "TP53"], return_match=True)
    assert X.to_dict("list") == {"AARS": [2.0], "TP53": [3.0]}
    assert list(Y.columns) == ["AARS1"] and match.aliased == {}


def test_a_name_of_two_genes_is_never_used():
    # ELP1 is today's symbol of IKBKAP's gene and an alias of the landmark
    # KDELR2: it stands for IKBKAP only, even when only KDELR2 is wanted.
    data = pd.DataFrame([[1.0, 2.0]], columns=["ELP1", "TP53"])
    with pytest.warns(MissingLandmarksWarning):
        X, Y, match = split_landmarks(data, landmarks=["IKBKAP", "KDELR2"], return_match=True)
    assert list(X.columns) == ["IKBKAP"] and match.missing == ["KDELR2"]
    with pytest.warns(MissingLandmarksWarning):
        _, Y, match = split_landmarks(data, landmarks=["KDELR2", "TP53"], return_match=True)
    assert "ELP1" in Y.columns and match.aliased == {}
    # CDC2 is an alias of CDK1 but names another gene too: it is not in the table.
    assert "CDC2" not in set(load_l1000_aliases()["alias"])


def test_aliases_apply_to_symbols_only_and_can_be_turned_off():
    data = pd.DataFrame([[1.0, 2.0]], columns=["AARS1", "TP53"])
    with pytest.warns(MissingLandmarksWarning):
        _, Y, match = split_landmarks(
            data, landmarks=["AARS", "TP53"], aliases=False, return_match=True
        )
    assert "AARS1" in Y.columns and match.missing == ["AARS"]
    # Landmarks not asked for are not matched through their aliases either.
    _, Y, _ = split_landmarks(data, landmarks=["TP53"], return_match=True)
    assert list(Y.columns) == ["AARS1"]


def test_synthetic_frame_with_todays_symbols_matches_every_landmark():
    X, Y = make_expression(n_samples=5, n_landmarks=978, n_targets=3, random_state=0, as_frame=True)
    data = X.join(Y)
    data.columns = _today(data.columns)
    X2, Y2, match = split_landmarks(data, return_match=True)
    assert match.n_matched == 978 and match.aliased == {k: RENAMED[k] for k in match.aliased}
    assert set(match.aliased) == set(RENAMED)
    pd.testing.assert_frame_equal(X2, X)
    assert list(Y2.columns) == list(Y.columns)


def test_match_repr_summarises_long_lists():
    match = LandmarkMatch(
        matched=[f"L{i}" for i in range(900)],
        missing=[f"M{i}" for i in range(78)],
        n_landmarks=978,
        n_targets=10_000,
        aliased={f"L{i}": f"A{i}" for i in range(30)},
    )
    text = repr(match)
    assert len(text) < 300
    assert "900/978 landmarks matched" in text and "30 through an alias" in text
    assert "78 missing (M0, M1, M2, M3, M4, ... 73 more)" in text
    assert "M5" not in text and "L899" not in text
