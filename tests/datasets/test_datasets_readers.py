"""Readers and writers: files written by the formats' specifications read back identically."""

import gzip
import os
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

from sklearn_dgex.datasets import (
    read_expression,
    read_gct,
    read_gctx,
    read_h5ad,
    read_npz,
    read_parquet,
    read_table,
    write_gct,
    write_gctx,
)

GENES = ["g1", "g2", "g3", "g4"]
SAMPLES = ["s1", "s2", "s3"]


@pytest.fixture
def data():
    """Samples x genes, non-square so that a transposed read cannot pass."""
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 7 + 2
    values[1, 2] = np.nan
    return pd.DataFrame(values, index=SAMPLES, columns=GENES)


@pytest.fixture
def gene_meta():
    return pd.DataFrame(
        {
            "pr_gene_symbol": ["TP53", "EGFR", "MYC", "AARS"],
            "pr_gene_id": [7157, 1956, 4609, 16],
            "pr_is_lm": [1, 0, 0, 1],
        },
        index=GENES,
    )


@pytest.fixture
def sample_meta():
    return pd.DataFrame(
        {"cell_id": ["A375", "MCF7", np.nan], "pert_dose": [0.5, 10.0, 2.5]}, index=SAMPLES
    )


def _assert_same_data(read, expected):
    pd.testing.assert_frame_equal(read, expected.astype(np.float32), check_exact=True)


def _assert_same_meta(read, expected):
    pd.testing.assert_frame_equal(
        read.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    assert list(read.index) == list(expected.index)


# -- GCTX ----------------------------------------------------------------------
def _write_gctx_by_spec(path, data, gene_meta, sample_meta, *, transpose=False):
    """The GCTX layout, written with h5py directly (as cmapPy and the CMap tools do)."""
    matrix = data.to_numpy(np.float32)  # HDF5 axis 0 = columns = samples
    with h5py.File(path, "w") as f:
        f.attrs["version"] = np.bytes_("GCTX1.0")
        f.create_dataset("/0/DATA/0/matrix", data=matrix.T if transpose else matrix)
        row = f.create_group("/0/META/ROW")
        row.create_dataset("id", data=np.array(GENES, dtype="S"))
        row.create_dataset("pr_gene_symbol", data=gene_meta["pr_gene_symbol"].to_numpy("S"))
        row.create_dataset("pr_gene_id", data=gene_meta["pr_gene_id"].to_numpy(np.int64))
        row.create_dataset("pr_is_lm", data=gene_meta["pr_is_lm"].to_numpy(np.int64))
        col = f.create_group("/0/META/COL")
        col.create_dataset("id", data=np.array(SAMPLES, dtype="S"))
        col.create_dataset("cell_id", data=np.array([b"A375", b"MCF7", b"-666"]))
        col.create_dataset("pert_dose", data=sample_meta["pert_dose"].to_numpy())


def test_gctx_written_by_spec_reads_back_identically(tmp_path, data, gene_meta, sample_meta):
    path = tmp_path / "spec.gctx"
    _write_gctx_by_spec(path, data, gene_meta, sample_meta)
    read, meta = read_gctx(path, return_meta=True)
    _assert_same_data(read, data)
    # h5py lists the fields of a group alphabetically.
    _assert_same_meta(meta.genes, gene_meta[sorted(gene_meta.columns)])
    _assert_same_meta(meta.samples, sample_meta)
    assert meta.info["version"] == "GCTX1.0"
    assert meta.genes["pr_gene_id"].dtype.kind == "i"
    assert np.isnan(meta.samples.loc["s3", "cell_id"])


def test_gctx_round_trip_through_write_gctx(tmp_path, data, gene_meta, sample_meta):
    path = tmp_path / "round.gctx"
    write_gctx(data, path, gene_meta=gene_meta, sample_meta=sample_meta)
    read, meta = read_gctx(path, return_meta=True)
    _assert_same_data(read, data)
    _assert_same_meta(meta.genes, gene_meta)
    _assert_same_meta(meta.samples, sample_meta)
    with h5py.File(path) as f:  # the layout of the specification
        assert f["/0/DATA/0/matrix"].shape == (3, 4)
        assert [x.decode() for x in f["/0/META/ROW/id"][()]] == GENES


def test_gctx_subsets_by_id(tmp_path, data):
    path = tmp_path / "subset.gctx"
    write_gctx(data, path)
    read = read_gctx(path, genes=["g4", "g1"], samples=["s3", "s1"])
    # File order is kept, whatever the order asked for.
    _assert_same_data(read, data.loc[["s1", "s3"], ["g1", "g4"]])
    _, meta = read_gctx(path, samples=["s2"], return_meta=True)
    assert list(meta.samples.index) == ["s2"]
    with pytest.raises(ValueError, match=r"genes: 1 id"):
        read_gctx(path, genes=["g1", "nope"])


def test_gctx_errors(tmp_path, data, gene_meta, sample_meta):
    with pytest.raises(FileNotFoundError, match=r"missing\.gctx"):
        read_gctx(tmp_path / "missing.gctx")
    text = tmp_path / "text.gctx"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match=r"not a GCTX file"):
        read_gctx(text)
    bare = tmp_path / "bare.gctx"
    with h5py.File(bare, "w") as f:
        f.create_dataset("/0/DATA/0/matrix", data=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"/0/META/ROW/id"):
        read_gctx(bare)
    transposed = tmp_path / "transposed.gctx"
    _write_gctx_by_spec(transposed, data, gene_meta, sample_meta, transpose=True)
    with pytest.raises(ValueError, match=r"\(samples, genes\) = \(3, 4\)"):
        read_gctx(transposed)
    duplicated = tmp_path / "dup.gctx"
    write_gctx(data, duplicated)
    with h5py.File(duplicated, "a") as f:
        f["/0/META/ROW/id"][1] = b"g1"
    with pytest.raises(ValueError, match=r"occur more than once"):
        read_gctx(duplicated)


# -- GCT -----------------------------------------------------------------------
def _gct13_text():
    """A GCT 1.3 file as the specification lays it out (genes x samples)."""
    return (
        "#1.3\n"
        "4\t3\t2\t2\n"
        "id\tpr_gene_symbol\tpr_is_lm\ts1\ts2\ts3\n"
        "cell_id\tna\tna\tA375\tMCF7\t-666\n"
        "pert_dose\tna\tna\t0.5\t10\t2.5\n"
        "g1\tTP53\t1\t2\t2.57142857\t3.14285714\n"
        "g2\tEGFR\t0\t2.14285714\t2.71428571\t3.28571429\n"
        "g3\tMYC\t0\t2.28571429\tNaN\t3.42857143\n"
        "g4\tAARS\t1\t2.42857143\t3\t3.57142857\n"
    )


def test_gct13_written_by_spec_reads_back(tmp_path, data, gene_meta, sample_meta):
    path = tmp_path / "spec.gct"
    path.write_text(_gct13_text())
    read, meta = read_gct(path, return_meta=True)
    np.testing.assert_allclose(read.to_numpy(), data.to_numpy(), rtol=1e-7)
    assert list(read.index) == SAMPLES and list(read.columns) == GENES
    _assert_same_meta(meta.genes, gene_meta[["pr_gene_symbol", "pr_is_lm"]])
    _assert_same_meta(meta.samples, sample_meta)
    assert meta.info == {"version": "1.3"}


def test_gct12_reads(tmp_path):
    path = tmp_path / "v12.gct"
    path.write_text(
        "#1.2\n2\t3\nName\tDescription\ts1\ts2\ts3\ng1\ttumor protein\t1\t2\t3\ng2\tna\t4\t5\tna\n"
    )
    read, meta = read_gct(path, return_meta=True)
    assert read.shape == (3, 2) and read.loc["s2", "g2"] == 5 and np.isnan(read.loc["s3", "g2"])
    assert meta.genes.loc["g1", "Description"] == "tumor protein"
    assert meta.samples.shape == (3, 0)


def test_gct_round_trip_is_bit_identical(tmp_path, data, gene_meta, sample_meta):
    rng = np.random.default_rng(0)
    noisy = data + rng.normal(size=data.shape).astype(np.float32)
    path = tmp_path / "round.gct"
    write_gct(noisy, path, gene_meta=gene_meta, sample_meta=sample_meta)
    read, meta = read_gct(path, return_meta=True)
    _assert_same_data(read, noisy)
    _assert_same_meta(meta.genes, gene_meta)
    _assert_same_meta(meta.samples, sample_meta)
    gz = tmp_path / "round.gct.gz"
    with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    _assert_same_data(read_expression(gz), noisy)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("#1.4\n1\t1\nName\tDescription\ts1\ng1\tna\t1\n", "expected '#1.2' or '#1.3'"),
        ("#1.2\n1\nName\tDescription\ts1\ng1\tna\t1\n", "2 tab-separated integers"),
        ("#1.2\n2\t1\nName\tDescription\ts1\ng1\tna\t1\n", "declares 2"),
        ("#1.2\n1\t2\nName\tDescription\ts1\ng1\tna\t1\n", "2 samples"),
        ("#1.2\n1\t1\nName\tDescription\ts1\ng1\tna\thigh\n", r"'high' in column 's1' \(row 'g1"),
        ("#1.2\n2\t1\nName\tDescription\ts1\ng1\tna\t1\ng1\tna\t2\n", "more than once"),
        ("#1.2\n2\t1\nName\tDescription\ts1\ng1\tna\t1\ng2\tna\t2\t3\n", "unequal length"),
    ],
)
def test_gct_errors(tmp_path, text, match):
    path = tmp_path / "bad.gct"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_gct(path)


def test_gct_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.gct"):
        read_gct(tmp_path / "nothing.gct")


# -- CSV / TSV -----------------------------------------------------------------
def test_table_both_orientations(tmp_path, data):
    csv = tmp_path / "samples_by_genes.csv"
    data.to_csv(csv)
    _assert_same_data(read_table(csv), data)
    tsv = tmp_path / "genes_by_samples.tsv.gz"
    data.T.to_csv(tsv, sep="\t")
    _assert_same_data(read_table(tsv, genes_in="rows"), data)
    _assert_same_data(read_expression(tsv, genes_in="rows"), data)


def test_table_errors(tmp_path, data):
    dup = tmp_path / "dup.csv"
    dup.write_text("sample,TP53,TP53\ns1,1,2\n")
    with pytest.raises(ValueError, match=r"more than once.*TP53"):
        read_table(dup)
    text = tmp_path / "text.csv"
    text.write_text("sample,TP53,EGFR\ns1,1,2\ns2,3,high\n")
    with pytest.raises(ValueError, match=r"non-numeric value 'high' in column 'EGFR'"):
        read_table(text)
    with pytest.raises(ValueError, match=r"genes_in must be one of"):
        read_table(text, genes_in="cols")
    wrong_sep = tmp_path / "semicolon.csv"
    data.to_csv(wrong_sep, sep=";")
    with pytest.raises(ValueError, match=r"separator|non-numeric"):
        read_table(wrong_sep, sep="\t")
    with pytest.raises(FileNotFoundError, match=r"absent\.csv"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match=r"not a regular file"):
        read_table(tmp_path)


# -- Parquet -------------------------------------------------------------------
def test_parquet_round_trip_and_errors(tmp_path, data):
    path = tmp_path / "expr.parquet"
    data.to_parquet(path)
    _assert_same_data(read_parquet(path), data)
    rows = tmp_path / "rows.pq"
    data.T.to_parquet(rows)
    _assert_same_data(read_expression(rows, genes_in="rows"), data)
    dup = tmp_path / "dup.parquet"
    data.T.rename(index={"g2": "g1"}).to_parquet(dup)
    with pytest.raises(ValueError, match=r"more than once"):
        read_parquet(dup, genes_in="rows")
    text = tmp_path / "text.parquet"
    pd.DataFrame({"g1": ["a", "b"]}).to_parquet(text)
    with pytest.raises(ValueError, match=r"non-numeric"):
        read_parquet(text)
    fake = tmp_path / "fake.parquet"
    fake.write_text("no parquet here")
    with pytest.raises(ValueError, match=r"not a readable Parquet file"):
        read_parquet(fake)


# -- AnnData -------------------------------------------------------------------
def test_h5ad_round_trip(tmp_path, data, gene_meta, sample_meta):
    anndata = pytest.importorskip("anndata")
    adata = anndata.AnnData(
        data.to_numpy(), obs=sample_meta.astype({"cell_id": str}), var=gene_meta
    )
    adata.layers["doubled"] = data.to_numpy() * 2
    path = tmp_path / "expr.h5ad"
    adata.write_h5ad(path)
    read, meta = read_h5ad(path, return_meta=True)
    _assert_same_data(read, data)
    assert list(meta.genes["pr_gene_symbol"]) == list(gene_meta["pr_gene_symbol"])
    assert list(meta.samples.index) == SAMPLES
    _assert_same_data(read_expression(path, layer="doubled"), data * 2)
    by_symbol = read_h5ad(path, gene_id_column="pr_gene_symbol")
    assert list(by_symbol.columns) == list(gene_meta["pr_gene_symbol"])
    with pytest.raises(ValueError, match=r"layer='raw'"):
        read_h5ad(path, layer="raw")
    with pytest.raises(ValueError, match=r"gene_id_column='symbol'"):
        read_h5ad(path, gene_id_column="symbol")
    fake = tmp_path / "fake.h5ad"
    fake.write_text("no")
    with pytest.raises(ValueError, match=r"not a readable \.h5ad"):
        read_h5ad(fake)


def test_h5ad_without_anndata_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "x.h5ad"
    path.write_text("")
    monkeypatch.setitem(sys.modules, "anndata", None)  # makes `import anndata` fail
    with pytest.raises(ImportError, match=r"pip install anndata"):
        read_h5ad(path)


# -- npz -----------------------------------------------------------------------
def test_npz_with_annotations(tmp_path, data):
    path = tmp_path / "expr.npz"
    np.savez(
        path,
        X=data.to_numpy(),
        genes=np.array(GENES),
        samples=np.array(SAMPLES),
        symbols=np.array(["TP53", "EGFR", "EGFR", ""]),
        sample_batch=np.array([1, 2, 2]),
        source=np.array("made up"),
    )
    read, meta = read_expression(path, return_meta=True)
    _assert_same_data(read, data)
    assert list(meta.genes["symbols"]) == ["TP53", "EGFR", "EGFR", ""]
    assert list(meta.samples["sample_batch"]) == [1, 2, 2]
    assert meta.info == {"source": "made up"}
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=data.to_numpy().T, genes=np.array(GENES))
    read = read_npz(rows, genes_in="rows")
    assert list(read.index) == ["0", "1", "2"]
    np.testing.assert_array_equal(read.to_numpy(), data.to_numpy())


def test_npz_errors(tmp_path, data):
    path = tmp_path / "nogenes.npz"
    np.savez(path, X=data.to_numpy())
    with pytest.raises(ValueError, match=r"no array 'genes'.*\['X'\]"):
        read_npz(path)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, X=data.to_numpy(), genes=np.array(GENES[:3]))
    with pytest.raises(ValueError, match=r"3 gene ids"):
        read_npz(wrong)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, X=data.to_numpy(), genes=np.array(GENES, dtype=object))
    with pytest.raises(ValueError, match=r"pickled\.npz"):
        read_npz(pickled)
    single = tmp_path / "single.npy"
    np.save(single, data.to_numpy())
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        read_npz(single)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        read_npz(text)


def test_npz_of_the_shared_microarray_data(shared_data_dir):
    path = os.path.join(shared_data_dir, "bladderbatch_hgu133a.npz")
    data, meta = read_npz(path, return_meta=True)
    assert data.shape == (57, 22283) and data.dtypes.unique().tolist() == [np.float32]
    assert {"symbols", "entrez"} <= set(meta.genes.columns)
    assert "sample_batch" in meta.samples.columns
    assert float(data.min().min()) > 2 and float(data.max().max()) < 15


# -- dispatcher ----------------------------------------------------------------
def test_dispatcher_infers_formats_and_rejects_unknown_ones(tmp_path, data):
    for name, write in [
        ("a.gctx", lambda p: write_gctx(data, p)),
        ("a.gct", lambda p: write_gct(data, p)),
        ("a.tsv", lambda p: data.to_csv(p, sep="\t")),
        ("a.parquet", lambda p: data.to_parquet(p)),
    ]:
        write(tmp_path / name)
        _assert_same_data(read_expression(tmp_path / name), data)
    other = tmp_path / "a.xlsx"
    other.write_text("")
    with pytest.raises(ValueError, match=r"cannot infer the format.*format="):
        read_expression(other)
    with pytest.raises(ValueError, match=r"format='excel' is not a known"):
        read_expression(other, format="excel")
    with pytest.raises(FileNotFoundError, match=r"gone\.gct"):
        read_expression(tmp_path / "gone.gct")
    # A file given the wrong format fails with the format named.
    with pytest.raises(ValueError, match=r"not a GCTX file"):
        read_expression(tmp_path / "a.tsv", format="gctx")


def test_writers_reject_bad_input(tmp_path, data):
    with pytest.raises(TypeError, match=r"pandas DataFrame"):
        write_gct(data.to_numpy(), tmp_path / "x.gct")
    with pytest.raises(ValueError, match=r"gene_meta lacks 1 id"):
        write_gctx(data, tmp_path / "x.gctx", gene_meta=pd.DataFrame(index=GENES[:3]))


# -- one error type per failure ------------------------------------------------
_GCT = "#1.2\n2\t2\nName\tDescription\ts1\ts2\ng1\tna\t1.0\t2.0\ng2\tna\t3.0\t4.0\n"
_CSV = ",TP53,EGFR\ns1,1.0,2.0\ns2,3.0,4.0\n"
# Without a time stamp, so that every pytest-xdist worker collects the same test ids.
_GZIPPED_CSV = gzip.compress(_CSV.encode(), mtime=0)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("latin1.csv", b",TP53,EGFR\ns1,1.0,\xe92.0\n", r"latin1\.csv' is not a readable table"),
        ("latin1.gct", _GCT.replace("s2", "s\xe9").encode("latin-1"), "not a readable GCT"),
        ("empty.csv", b"", r"empty\.csv' is not a readable table file"),
        ("header.csv", b",TP53,EGFR\n", r"header\.csv' has a header but no data lines"),
        ("two_lines.gct", b"#1.2\n2\t2\n", r"two_lines\.gct': a GCT file needs line 3"),
        ("crc.csv.gz", _GZIPPED_CSV[:-8] + b"\0" * 8, r"crc\.csv\.gz.*BadGzip"),
        ("cut.csv.gz", _GZIPPED_CSV[:20], r"cut\.csv\.gz.*EOFError"),
        ("short.gct", _GCT.replace("\t2.0\n", "\n"), r"short\.gct': line 4 has 3 .*fields"),
        ("negative.gct", _GCT.replace("2\t2\n", "-2\t2\n", 1), "negative sizes"),
    ],
)
def test_malformed_text_files_raise_value_errors_naming_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=match):
        read_expression(path)


def test_gzip_is_recognised_by_content_not_by_name(tmp_path):
    for name, text in (("packed.gct", _GCT), ("packed.csv", _CSV)):
        (tmp_path / name).write_bytes(gzip.compress(text.encode()))
        (tmp_path / ("plain" + name)).write_text(text)
        _assert_same_data(
            read_expression(tmp_path / name), read_expression(tmp_path / ("plain" + name))
        )


def test_cmap_null_is_nan_in_every_format(tmp_path, data):
    data = data.copy()
    data.iloc[0, 1] = -666.0
    write_gctx(data, tmp_path / "n.gctx")
    write_gct(data, tmp_path / "n.gct")
    (tmp_path / "n.gct").write_text((tmp_path / "n.gct").read_text().replace("-666\t", "-666.0\t"))
    data.to_csv(tmp_path / "n.csv", float_format="%.1f")
    for path in ("n.gctx", "n.gct", "n.csv"):
        read = read_expression(tmp_path / path)
        assert np.isnan(read.iloc[0, 1]) and read.isna().sum().sum() == data.isna().sum().sum() + 1


@pytest.mark.parametrize(
    ("where", "value"),
    [("index", "s\n1"), ("columns", "g\t1"), ("gene_meta", "a\tb"), ("sample_meta", "x\ry")],
)
def test_write_gct_refuses_text_it_cannot_store(
    tmp_path, data, gene_meta, sample_meta, where, value
):
    data = data.copy()
    if where == "index":
        data.index = [value, *data.index[1:]]
        gene_meta = sample_meta = None
    elif where == "columns":
        data.columns = [value, *data.columns[1:]]
        gene_meta = sample_meta = None
    else:
        meta = (gene_meta if where == "gene_meta" else sample_meta).copy()
        meta.iloc[0, 0] = value
        gene_meta, sample_meta = (meta, sample_meta) if where == "gene_meta" else (gene_meta, meta)
    with pytest.raises(ValueError, match="with a tab or line break"):
        write_gct(data, tmp_path / "x.gct", gene_meta=gene_meta, sample_meta=sample_meta)


def test_malformed_gctx_structure_raises_value_errors(tmp_path, data, gene_meta):
    path = tmp_path / "x.gctx"
    cases = [
        (lambda f: f.__setitem__("/0/META/ROW/extra", np.arange(2)), "one value per id"),
        (lambda f: f.create_group("/0/META/COL/nested"), "must be a 1-D dataset"),
        (
            lambda f: (f.__delitem__("/0/META/COL/id"), f.create_group("/0/META/COL/id")),
            "no '/0/META/COL/id' dataset",
        ),
    ]
    for edit, match in cases:
        write_gctx(data, path, gene_meta=gene_meta)
        with h5py.File(path, "a") as handle:
            edit(handle)
        with pytest.raises(ValueError, match=match):
            read_gctx(path, return_meta=True)
