"""Readers and writers of expression files, all returning samples x genes DataFrames.

Every reader returns a :class:`pandas.DataFrame` with one row per sample
(index: sample ids, as str) and one column per gene (columns: gene ids, as
str), in ``float32`` unless told otherwise. With ``return_meta=True`` it
returns ``(data, meta)`` where ``meta`` is an :class:`ExpressionMeta`:
``meta.genes`` (gene annotations indexed like ``data.columns``),
``meta.samples`` (sample annotations indexed like ``data.index``) and
``meta.info`` (file-level attributes). Metadata is returned beside the data,
not in ``DataFrame.attrs``, because pandas copies and compares ``attrs`` on
most operations.

File formats (``format=`` names of :func:`read_expression`):

``"gctx"``
    The L1000 HDF5 format: ``/0/DATA/0/matrix`` holds the values,
    ``/0/META/ROW`` the gene (row) ids and annotations and ``/0/META/COL``
    the sample (column) ones. GCTX is logically genes x samples; in HDF5 the
    matrix is stored transposed, so its first axis runs over samples.
``"gct"``
    The GCT text format, versions 1.2 and 1.3 (genes x samples).
``"table"``
    CSV or TSV, samples in rows (``genes_in="columns"``) or genes in rows
    (``genes_in="rows"``).
``"parquet"``, ``"h5ad"``, ``"npz"``
    Parquet tables, AnnData files (optional dependency) and numpy archives.
"""

import contextlib
import gzip
import os
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._optional import import_optional

__all__ = [
    "ExpressionMeta",
    "read_expression",
    "read_gct",
    "read_gctx",
    "read_h5ad",
    "read_npz",
    "read_parquet",
    "read_table",
    "write_expression",
    "write_gct",
    "write_gctx",
    "write_h5ad",
]

# File extension -> format; one table for detection and for error messages.
_EXTENSIONS = {
    ".gctx": "gctx",
    ".gct": "gct",
    ".gct.gz": "gct",
    ".csv": "table",
    ".tsv": "table",
    ".txt": "table",
    ".csv.gz": "table",
    ".tsv.gz": "table",
    ".txt.gz": "table",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5ad": "h5ad",
    ".npz": "npz",
}
_GENES_IN = ("columns", "rows")
# CMap's null value in metadata ("-666"), and the usual text spellings of NaN.
_META_NULLS = ("-666", "-666.0", "na", "NA", "NaN", "nan", "")
_DATA_NULLS = ["na", "NA", "NaN", "nan", "", "-666"]

# CMap's null value in the data of every text and GCTX file.
_NULL_VALUE = -666
# What a malformed text file makes the parsers raise (reported as ValueError naming the file).
_MALFORMED_TEXT = (
    UnicodeDecodeError,
    pd.errors.EmptyDataError,
    pd.errors.ParserError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
)
_GZIP_MAGIC = b"\x1f\x8b"

_GCTX_MATRIX = "/0/DATA/0/matrix"
_GCTX_ROW_META = "/0/META/ROW"
_GCTX_COL_META = "/0/META/COL"
_GCTX_VERSION = "GCTX1.0"


@dataclass
class ExpressionMeta:
    """Annotations read beside an expression matrix.

    Attributes
    ----------
    genes : pandas.DataFrame
        One row per gene, indexed by the gene ids of the data's columns
        (for example ``pr_gene_symbol`` of a GCTX file, ``symbols`` of an
        npz file, ``var`` of an AnnData file). May have no columns.
    samples : pandas.DataFrame
        One row per sample, indexed by the data's index.
    info : dict
        File-level attributes (GCT/GCTX version, source, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import ExpressionMeta
    >>> meta = ExpressionMeta(genes=pd.DataFrame(index=["g1"]),
    ...                       samples=pd.DataFrame(index=["s1"]))
    >>> list(meta.genes.index), meta.info
    (['g1'], {})
    """

    genes: pd.DataFrame
    samples: pd.DataFrame
    info: dict = field(default_factory=dict)


# -- dispatcher ----------------------------------------------------------------
def read_expression(path, format=None, **kwargs):
    """Read an expression file into a samples x genes DataFrame.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    format : {"gctx", "gct", "table", "parquet", "h5ad", "npz"}, default=None
        File format; by default inferred from the extension (``.gctx``,
        ``.gct``, ``.csv``/``.tsv``/``.txt`` optionally ``.gz``,
        ``.parquet``/``.pq``, ``.h5ad``, ``.npz``).
    **kwargs
        Passed to the format's reader (for example ``genes_in="rows"`` or
        ``return_meta=True``).

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
        Expression values; gene ids as columns, sample ids as index.
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is unknown, or the file is not a valid file of that
        format (undecodable text, damaged compression, missing or
        inconsistent parts, lines of the wrong length), gene ids repeat or
        values are not numeric; the message names the file. Gzip
        compression is recognised by the file's content, whatever its name.

    See Also
    --------
    read_gctx, read_gct, read_table, read_parquet, read_h5ad, read_npz

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_expression
    >>> data = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=["s1", "s2"],
    ...                     columns=["TP53", "EGFR"])
    >>> path = os.path.join(tempfile.mkdtemp(), "expr.csv")
    >>> data.to_csv(path)
    >>> read_expression(path).loc["s2", "EGFR"]
    np.float32(4.0)
    """
    readers = _readers()
    if format is None:
        format = _format_from_extension(path)
    elif format not in readers:
        raise ValueError(
            f"format={format!r} is not a known expression format; "
            f"expected one of {sorted(readers)} or None to infer it from the extension."
        )
    return readers[format](path, **kwargs)


def _readers():
    return {
        "gctx": read_gctx,
        "gct": read_gct,
        "table": read_table,
        "parquet": read_parquet,
        "h5ad": read_h5ad,
        "npz": read_npz,
    }


def _format_from_extension(path):
    name = os.fspath(path).lower()
    # Longest extensions first, so ".csv.gz" wins over ".gz".
    for extension in sorted(_EXTENSIONS, key=len, reverse=True):
        if name.endswith(extension):
            return _EXTENSIONS[extension]
    raise ValueError(
        f"cannot infer the format of {os.fspath(path)!r} from its extension; "
        f"known extensions are {sorted(_EXTENSIONS)}. Pass format= explicitly."
    )


def write_expression(data, path, format=None, **kwargs):
    """Write a samples x genes DataFrame in the format its extension names.

    The inverse of :func:`read_expression`: every format it reads back with
    the same sample and gene ids (values as float32).

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_genes)
        Values; the index gives the sample ids, the columns the gene ids.
    path : str or os.PathLike
        Output file (overwritten).
    format : {"gctx", "gct", "table", "parquet", "h5ad", "npz"}, default=None
        File format; by default inferred from the extension as by
        :func:`read_expression`. Tables are written with samples in rows,
        comma-separated for ``.csv`` and tab-separated otherwise.
    **kwargs
        ``gene_meta=`` and ``sample_meta=`` for :func:`write_gctx`,
        :func:`write_gct` and :func:`write_h5ad`.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If the format is unknown or cannot be inferred.

    See Also
    --------
    read_expression : Read it back.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_expression, write_expression
    >>> data = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["TP53", "EGFR"])
    >>> folder = tempfile.mkdtemp()
    >>> for name in ["a.gctx", "a.gct", "a.csv", "a.tsv", "a.parquet", "a.h5ad", "a.npz"]:
    ...     write_expression(data, os.path.join(folder, name))
    ...     assert read_expression(os.path.join(folder, name)).equals(data.astype("float32"))
    """
    writers = {
        "gctx": write_gctx,
        "gct": write_gct,
        "table": _write_table,
        "parquet": _write_parquet,
        "h5ad": write_h5ad,
        "npz": _write_npz,
    }
    if format is None:
        format = _format_from_extension(path)
    elif format not in writers:
        raise ValueError(
            f"format={format!r} is not a known expression format; "
            f"expected one of {sorted(writers)} or None to infer it from the extension."
        )
    writers[format](data, path, **kwargs)


def _write_table(data, path):
    data = _as_expression_frame(data, "data")
    sep = "," if ".csv" in os.path.basename(os.fspath(path)).lower() else "\t"
    data.to_csv(os.fspath(path), sep=sep, float_format="%.9g", na_rep="NaN")


def _write_parquet(data, path):
    import_optional("pyarrow", "write_expression", extra="io")
    data = _as_expression_frame(data, "data")
    data.set_axis(data.columns.astype(str), axis=1).to_parquet(os.fspath(path))


def _write_npz(data, path):
    data = _as_expression_frame(data, "data")
    np.savez(
        os.fspath(path),
        X=data.to_numpy(dtype=np.float32),
        genes=np.asarray(data.columns, dtype=str),
        samples=np.asarray(data.index, dtype=str),
    )


# -- GCTX ----------------------------------------------------------------------
def read_gctx(path, *, genes=None, samples=None, dtype=np.float32, return_meta=False):
    """Read an L1000 GCTX (HDF5) file.

    Reads ``/0/DATA/0/matrix`` and the row (gene) and column (sample)
    metadata groups ``/0/META/ROW`` and ``/0/META/COL``, each holding an
    ``id`` dataset and one dataset per annotation field. GCTX is logically
    genes x samples and stores its matrix transposed (samples along the
    first HDF5 axis), which is the samples x genes layout returned here; the
    matrix's shape is checked against both id lists, so a file written the
    other way round fails loudly instead of being read transposed. CMap's
    null value ``-666`` in the matrix is read as NaN, as in GCT and CSV files.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.gctx`` file.
    genes : list of str, default=None
        Gene (row) ids to read; all by default. Returned in the file's order.
    samples : list of str, default=None
        Sample (column) ids to read; all by default. Reading a subset keeps
        memory bounded on files of a million profiles.
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values.
    return_meta : bool, default=False
        Also return the metadata as an :class:`ExpressionMeta`. CMap's null
        value ``-666`` becomes NaN; the file's ``version`` and ``src``
        attributes go to ``meta.info``.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    write_gctx : Write a DataFrame as GCTX.
    read_gct : The text variant.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_gctx, write_gctx
    >>> data = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    ...                     index=["s1", "s2"], columns=["g1", "g2", "g3"])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.gctx")
    >>> write_gctx(data, path)
    >>> read_gctx(path, samples=["s2"]).to_numpy().tolist()
    [[4.0, 5.0, 6.0]]
    """
    h5py = import_optional("h5py", "read_gctx", extra="io")
    path = _existing_file(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path!r} is not a GCTX file (not readable as HDF5): {error}") from None
    with handle, _malformed_hdf5(path, h5py):
        for node in (_GCTX_MATRIX, f"{_GCTX_ROW_META}/id", f"{_GCTX_COL_META}/id"):
            if not isinstance(handle.get(node), h5py.Dataset):
                raise ValueError(f"{path!r} is not a GCTX file: it has no {node!r} dataset.")
        gene_meta = _read_gctx_meta(handle[_GCTX_ROW_META], h5py, path)
        sample_meta = _read_gctx_meta(handle[_GCTX_COL_META], h5py, path)
        _check_unique_genes(gene_meta.index, path)
        matrix = handle[_GCTX_MATRIX]
        expected = (len(sample_meta), len(gene_meta))
        if matrix.shape != expected:
            raise ValueError(
                f"{path!r}: the matrix has shape {matrix.shape} but GCTX stores it as "
                f"(n_columns, n_rows) = (samples, genes) = {expected} from its id lists."
            )
        if matrix.dtype.kind not in "biuf":
            raise ValueError(f"{path!r}: the matrix holds {matrix.dtype}, not numbers.")
        gene_idx = _select_ids(gene_meta.index, genes, "genes", path)
        sample_idx = _select_ids(sample_meta.index, samples, "samples", path)
        values = _with_nulls_as_nan(_read_matrix(matrix, sample_idx, gene_idx))
        info = {key: _decode(value) for key, value in handle.attrs.items()}
    gene_meta, sample_meta = gene_meta.iloc[gene_idx], sample_meta.iloc[sample_idx]
    data = pd.DataFrame(values, index=sample_meta.index, columns=gene_meta.index)
    data = _validated(data, path, dtype)
    if return_meta:
        return data, ExpressionMeta(genes=gene_meta, samples=sample_meta, info=info)
    return data


@contextlib.contextmanager
def _malformed_hdf5(path, h5py):
    """Report what a damaged HDF5 file makes h5py raise as a ValueError naming the file."""
    try:
        yield
    except (OSError, KeyError, TypeError, UnicodeDecodeError, RuntimeError) as error:
        raise ValueError(f"{path!r} is not a readable GCTX file: {error}") from error


def _read_gctx_meta(group, h5py, path):
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{path!r}: {group.name!r} must be a group of annotation datasets.")
    fields = {}
    for name in group:
        node = group[name]
        if not isinstance(node, h5py.Dataset) or node.ndim != 1:
            raise ValueError(f"{path!r}: {node.name!r} must be a 1-D dataset of one value per id.")
        fields[name] = _decode_array(node[()])
    lengths = {name: len(values) for name, values in fields.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{path!r}: the datasets of {group.name!r} must hold one value per id "
            f"({lengths['id']}), got lengths {lengths}."
        )
    ids = pd.Index(np.asarray(fields.pop("id")).astype(str))
    meta = pd.DataFrame({name: _meta_column(values) for name, values in fields.items()})
    meta.index = ids
    return meta


def _read_matrix(matrix, sample_idx, gene_idx):
    # h5py fancy-indexes one axis at a time, with increasing unique indices
    # (which _select_ids returns): select the samples on disk, then genes.
    rows = matrix[()] if len(sample_idx) == matrix.shape[0] else matrix[sample_idx, :]
    return rows if len(gene_idx) == matrix.shape[1] else rows[:, gene_idx]


def _select_ids(available, wanted, name, path):
    if wanted is None:
        return np.arange(len(available))
    wanted = pd.Index(np.asarray(wanted).astype(str))
    positions = available.get_indexer(wanted)
    missing = wanted[positions < 0]
    if len(missing):
        raise ValueError(
            f"{name}: {len(missing)} id(s) are not in {path!r}, e.g. {list(missing[:5])}."
        )
    return np.unique(positions)


def write_gctx(data, path, *, gene_meta=None, sample_meta=None):
    """Write a samples x genes DataFrame as an L1000 GCTX (HDF5) file.

    The matrix is stored as float32 with samples along the first HDF5 axis
    (GCTX's transposed genes x samples layout), ids and string annotations
    as UTF-8 strings, numeric annotations as numbers; missing annotations
    are written as CMap's null ``-666``.

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_genes)
        Values; the index gives the sample ids, the columns the gene ids.
    path : str or os.PathLike
        Output file (overwritten).
    gene_meta : pandas.DataFrame, default=None
        Gene annotations indexed by gene id (``/0/META/ROW``).
    sample_meta : pandas.DataFrame, default=None
        Sample annotations indexed by sample id (``/0/META/COL``).

    Returns
    -------
    None

    See Also
    --------
    read_gctx : Read it back.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_gctx, write_gctx
    >>> data = pd.DataFrame([[1.5, 2.5]], index=["s1"], columns=["g1", "g2"])
    >>> genes = pd.DataFrame({"pr_gene_symbol": ["TP53", "EGFR"]}, index=["g1", "g2"])
    >>> path = os.path.join(tempfile.mkdtemp(), "one.gctx")
    >>> write_gctx(data, path, gene_meta=genes)
    >>> _, meta = read_gctx(path, return_meta=True)
    >>> meta.genes["pr_gene_symbol"].tolist()
    ['TP53', 'EGFR']
    """
    h5py = import_optional("h5py", "write_gctx", extra="io")
    data = _as_expression_frame(data, "data")
    gene_meta = _aligned_meta(gene_meta, data.columns, "gene_meta")
    sample_meta = _aligned_meta(sample_meta, data.index, "sample_meta")
    with h5py.File(os.fspath(path), "w") as handle:
        handle.attrs["version"] = _GCTX_VERSION
        handle.attrs["src"] = os.path.basename(os.fspath(path))
        handle.create_dataset(_GCTX_MATRIX, data=data.to_numpy(dtype=np.float32))
        for node, meta in ((_GCTX_ROW_META, gene_meta), (_GCTX_COL_META, sample_meta)):
            group = handle.create_group(node, track_order=True)
            group.create_dataset("id", data=_utf8(meta.index))
            for name in meta.columns:
                group.create_dataset(str(name), data=_meta_for_hdf5(meta[name]))


def _meta_for_hdf5(column):
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.fillna(-666).to_numpy()
    return _utf8(column.astype(object).where(column.notna(), "-666"))


def _utf8(values):
    return np.array([str(value).encode("utf-8") for value in values], dtype=object).astype(bytes)


# -- GCT -----------------------------------------------------------------------
def read_gct(path, *, dtype=np.float32, return_meta=False):
    """Read a GCT text file, version 1.2 or 1.3.

    GCT is genes x samples. Version 1.2: line 1 ``#1.2``, line 2
    ``n_genes<TAB>n_samples``, line 3 ``Name<TAB>Description<TAB>sample ids``,
    then one line per gene. Version 1.3: line 1 ``#1.3``, line 2
    ``n_genes<TAB>n_samples<TAB>n_gene_fields<TAB>n_sample_fields``, line 3
    ``id<TAB>gene field names<TAB>sample ids``, then one line per sample
    field (its name, fillers under the gene fields, one value per sample),
    then one line per gene (id, gene fields, values). The declared sizes are
    checked against the content.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.gct`` file (may be gzip-compressed with a ``.gz`` suffix).
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values.
    return_meta : bool, default=False
        Also return gene and sample annotations as an
        :class:`ExpressionMeta`; ``-666`` and ``na`` become NaN and fully
        numeric fields become numbers.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    write_gct : Write GCT 1.3.
    read_gctx : The HDF5 variant.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_dgex.datasets import read_gct
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.gct")
    >>> with open(path, "w") as f:
    ...     _ = f.write("#1.2\\n2\\t2\\nName\\tDescription\\ts1\\ts2\\n"
    ...                 "g1\\tna\\t1.0\\t2.0\\ng2\\tna\\t3.0\\t4.0\\n")
    >>> read_gct(path).to_numpy().tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    path = _existing_file(path)
    with _malformed_text(path, "GCT"):
        version, sizes, header_lines = _read_gct_header(path)
        n_genes, n_samples = sizes[:2]
        n_gene_fields, n_sample_fields = (sizes[2], sizes[3]) if version == "1.3" else (1, 0)
        if min(sizes) < 0:
            raise ValueError(f"{path!r}: line 2 declares negative sizes {sizes}.")
        n_id_columns = 1 + n_gene_fields
        try:
            table = pd.read_csv(
                path,
                sep="\t",
                skiprows=header_lines,
                header=None,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                compression=_compression(path),
            )
        except pd.errors.ParserError as error:
            raise ValueError(
                f"{path!r}: lines of unequal length, not a valid GCT file: {error}"
            ) from None
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path!r}: a GCT file needs line 3 (ids) and data lines.") from None
        _check_gct_lines(path, header_lines, table.shape[1])
    header = table.iloc[0]
    if table.shape[1] != n_id_columns + n_samples:
        raise ValueError(
            f"{path!r}: line 3 has {table.shape[1]} fields but the header declares "
            f"{n_id_columns} id/annotation columns and {n_samples} samples."
        )
    if len(table) - 1 - n_sample_fields != n_genes:
        raise ValueError(
            f"{path!r}: found {len(table) - 1 - n_sample_fields} gene lines but line 2 "
            f"declares {n_genes}."
        )
    sample_ids = pd.Index(header.iloc[n_id_columns:].astype(str).to_numpy())
    sample_block = table.iloc[1 : 1 + n_sample_fields]
    gene_block = table.iloc[1 + n_sample_fields :]
    gene_ids = pd.Index(gene_block.iloc[:, 0].astype(str).to_numpy())
    values = pd.DataFrame(
        _gct_values(gene_block.iloc[:, n_id_columns:], gene_ids, sample_ids, path),
        index=gene_ids,
        columns=sample_ids,
    )
    data = _validated(values.T, path, dtype)
    if not return_meta:
        return data
    gene_fields = [str(name) for name in header.iloc[1:n_id_columns]]
    gene_meta = pd.DataFrame(
        {
            name: _meta_column(gene_block.iloc[:, 1 + i].to_numpy())
            for i, name in enumerate(gene_fields)
        },
        index=gene_ids,
    )
    sample_meta = pd.DataFrame(
        {
            str(row.iloc[0]): _meta_column(row.iloc[n_id_columns:].to_numpy())
            for _, row in sample_block.iterrows()
        },
        index=sample_ids,
    )
    return data, ExpressionMeta(genes=gene_meta, samples=sample_meta, info={"version": version})


def _gct_values(block, gene_ids, sample_ids, path):
    text = block.to_numpy(dtype=object)
    text[np.isin(text, _DATA_NULLS)] = "nan"
    try:
        # One conversion for the whole block: a GCT can hold 100,000 samples.
        values = text.astype(np.float64)
    except ValueError:
        table = pd.DataFrame(text, index=gene_ids, columns=sample_ids)
        values = _numeric(table, path).to_numpy(dtype=np.float64)
    return _with_nulls_as_nan(values)


def _check_gct_lines(path, header_lines, n_fields):
    """Every line after the header has ``n_fields`` fields: a short line is no row of NaN."""
    with _text_opener(path)(path, "rt", encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            n_line_fields = line.rstrip("\r\n").count("\t") + 1
            if number > header_lines and line.strip("\r\n") and n_line_fields != n_fields:
                raise ValueError(
                    f"{path!r}: line {number} has {n_line_fields} tab-separated fields, line 3 "
                    f"has {n_fields}; every line of a GCT file has one field per column."
                )


def _with_nulls_as_nan(values):
    """CMap's null value ``-666`` (however written) as NaN, in every text and GCTX file."""
    if values.dtype.kind == "f":
        values[values == _NULL_VALUE] = np.nan
    elif (values == _NULL_VALUE).any():
        values = np.where(values == _NULL_VALUE, np.nan, values)
    return values


@contextlib.contextmanager
def _malformed_text(path, format_name):
    """Report what a malformed text file makes the parsers raise as a ValueError naming it."""
    try:
        yield
    except _MALFORMED_TEXT as error:
        raise ValueError(
            f"{path!r} is not a readable {format_name} file ({type(error).__name__}: {error})."
        ) from error


def _compression(path):
    """ "gzip" when the file starts with gzip's magic bytes, whatever its name; else None."""
    with open(path, "rb") as handle:
        return "gzip" if handle.read(2) == _GZIP_MAGIC else None


def _read_gct_header(path):
    opener = _text_opener(path)
    with opener(path, "rt", encoding="utf-8") as handle:
        first = handle.readline().strip()
        second = handle.readline().strip()
    version = first.lstrip("#")
    if first not in ("#1.2", "#1.3"):
        raise ValueError(
            f"{path!r} is not a GCT file: line 1 is {first[:40]!r}, expected '#1.2' or '#1.3'."
        )
    expected_sizes = 2 if version == "1.2" else 4
    try:
        sizes = [int(value) for value in second.split("\t")]
    except ValueError:
        sizes = []
    if len(sizes) != expected_sizes:
        raise ValueError(
            f"{path!r}: line 2 of a GCT {version} file must hold {expected_sizes} "
            f"tab-separated integers, got {second[:60]!r}."
        )
    return version, sizes, 2


def _text_opener(path):
    return gzip.open if _compression(path) == "gzip" else open


def write_gct(data, path, *, gene_meta=None, sample_meta=None):
    """Write a samples x genes DataFrame as a GCT 1.3 text file.

    Values are written with 9 significant digits, enough for float32 to
    read back bit-identically; NaN is written ``NaN`` and missing
    annotations ``-666``.

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_genes)
        Values; the index gives the sample ids, the columns the gene ids.
    path : str or os.PathLike
        Output file (overwritten); gzip-compressed when it ends with ``.gz``.
    gene_meta : pandas.DataFrame, default=None
        Gene annotations indexed by gene id.
    sample_meta : pandas.DataFrame, default=None
        Sample annotations indexed by sample id.

    Returns
    -------
    None

    See Also
    --------
    read_gct : Read it back.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_gct, write_gct
    >>> data = pd.DataFrame([[1.25, 2.5]], index=["s1"], columns=["g1", "g2"])
    >>> path = os.path.join(tempfile.mkdtemp(), "one.gct")
    >>> write_gct(data, path)
    >>> read_gct(path).equals(data.astype("float32"))
    True
    """
    data = _as_expression_frame(data, "data")
    gene_meta = _aligned_meta(gene_meta, data.columns, "gene_meta")
    sample_meta = _aligned_meta(sample_meta, data.index, "sample_meta")
    _check_gct_text(data.columns, "data.columns (gene ids)")
    _check_gct_text(data.index, "data.index (sample ids)")
    for meta, name in ((gene_meta, "gene_meta"), (sample_meta, "sample_meta")):
        _check_gct_text(meta.columns, f"{name}.columns")
        for column in meta.columns:
            _check_gct_text(_meta_text(meta[column]), f"{name}[{column!r}]")
    n_gene_fields = gene_meta.shape[1]
    lines = [
        "#1.3",
        "\t".join(map(str, (data.shape[1], data.shape[0], n_gene_fields, sample_meta.shape[1]))),
        "\t".join(["id", *map(str, gene_meta.columns), *map(str, data.index)]),
    ]
    for name in sample_meta.columns:
        values = _meta_text(sample_meta[name])
        lines.append("\t".join([str(name), *(["-666"] * n_gene_fields), *values]))
    # Read by content, written by name: the name is all a new file has.
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(os.fspath(path), "wt", encoding="utf-8", newline="\n") as handle:
        handle.write("\n".join(lines) + "\n")
        body = pd.concat(
            [
                pd.DataFrame({c: _meta_text(gene_meta[c]) for c in gene_meta}, index=data.columns),
                data.T.astype(np.float64),
            ],
            axis=1,
        )
        body.to_csv(handle, sep="\t", header=False, float_format="%.9g", na_rep="NaN")


def _check_gct_text(values, name):
    """GCT separates fields by tabs and lines by newlines: text may hold neither."""
    for value in values:
        text = str(value)
        if any(character in text for character in "\t\n\r"):
            raise ValueError(
                f"{name} holds {text!r}, with a tab or line break, which a GCT file cannot "
                "store; replace them, or write GCTX."
            )


def _meta_text(column):
    return [("-666" if pd.isna(value) else str(value)) for value in column]


# -- tables --------------------------------------------------------------------
def read_table(
    path, *, genes_in="columns", sep=None, index_col=0, dtype=np.float32, return_meta=False
):
    """Read a CSV or TSV expression table (GEO, ARCHS4 and similar exports).

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.gz`` compression is recognised.
    genes_in : {"columns", "rows"}, default="columns"
        Where the genes are: ``"columns"`` for one sample per line (the
        first line names the genes), ``"rows"`` for one gene per line (the
        first line names the samples, as in GEO series matrices).
    sep : str, default=None
        Field separator; by default ``","`` for ``.csv`` files and a tab
        otherwise.
    index_col : int, default=0
        Column holding the row ids (sample ids, or gene ids when
        ``genes_in="rows"``).
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values.
    return_meta : bool, default=False
        Also return an (empty) :class:`ExpressionMeta`, for symmetry with
        the other readers.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    read_expression : Choose the reader from the extension.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_dgex.datasets import read_table
    >>> path = os.path.join(tempfile.mkdtemp(), "genes_by_samples.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("gene\\ts1\\ts2\\nTP53\\t5.0\\t6.0\\nEGFR\\t7.0\\t8.0\\n")
    >>> data = read_table(path, genes_in="rows")
    >>> list(data.columns), list(data.index)
    (['TP53', 'EGFR'], ['s1', 's2'])
    """
    genes_in = _check_genes_in(genes_in)
    path = _existing_file(path)
    if sep is None:
        sep = "," if ".csv" in os.path.basename(path).lower() else "\t"
    compression = _compression(path)
    with _malformed_text(path, "table"):
        # Read the header as data: pandas would silently rename repeated names
        # ("TP53", "TP53.1"), hiding duplicate gene ids.
        header = pd.read_csv(
            path,
            sep=sep,
            header=None,
            nrows=1,
            dtype=str,
            keep_default_na=False,
            compression=compression,
        )
        try:
            table = pd.read_csv(
                path,
                sep=sep,
                header=None,
                skiprows=1,
                index_col=index_col,
                na_values=_DATA_NULLS,
                compression=compression,
            )
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path!r} has a header but no data lines.") from None
    names = [name for i, name in enumerate(header.iloc[0]) if i != index_col]
    if len(names) != table.shape[1] or not names:
        raise ValueError(
            f"{path!r}: the header has {len(names)} names but the rows have "
            f"{table.shape[1]} values; is sep={sep!r} the right separator?"
        )
    table.columns = pd.Index(names)
    table.index.name = None
    table = _numeric(table, path)
    table = _oriented(table.where(table != _NULL_VALUE), genes_in)
    return _with_empty_meta(_validated(table, path, dtype), return_meta)


def read_parquet(path, *, genes_in="columns", dtype=np.float32, return_meta=False):
    """Read a Parquet expression table.

    Parameters
    ----------
    path : str or os.PathLike
        The file, as written by :meth:`pandas.DataFrame.to_parquet`; its
        stored index gives the row ids.
    genes_in : {"columns", "rows"}, default="columns"
        Whether genes are the table's columns or its rows.
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values.
    return_meta : bool, default=False
        Also return an (empty) :class:`ExpressionMeta`.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    read_expression : Choose the reader from the extension.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_parquet
    >>> path = os.path.join(tempfile.mkdtemp(), "expr.parquet")
    >>> pd.DataFrame({"TP53": [1.0, 2.0]}, index=["s1", "s2"]).to_parquet(path)
    >>> read_parquet(path).shape
    (2, 1)
    """
    genes_in = _check_genes_in(genes_in)
    import_optional("pyarrow", "read_parquet", extra="io")
    path = _existing_file(path)
    try:
        table = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a non-Parquet file
        raise ValueError(f"{path!r} is not a readable Parquet file: {error}") from None
    table = _oriented(_numeric(table, path), genes_in)
    return _with_empty_meta(_validated(table, path, dtype), return_meta)


# -- AnnData -------------------------------------------------------------------
def read_h5ad(path, *, layer=None, gene_id_column=None, dtype=np.float32, return_meta=False):
    """Read an AnnData ``.h5ad`` file (needs the optional ``anndata`` package).

    AnnData stores observations (samples) x variables (genes), which is the
    layout returned.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.h5ad`` file.
    layer : str, default=None
        Layer to read instead of ``X`` (for example ``"log2"``).
    gene_id_column : str, default=None
        Column of ``var`` to use as gene ids instead of ``var_names`` (for
        example a symbol column when ``var_names`` are Ensembl ids).
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values; sparse matrices are densified.
    return_meta : bool, default=False
        Also return ``var`` and ``obs`` as an :class:`ExpressionMeta`.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    read_expression : Choose the reader from the extension.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np, pandas as pd
    >>> from sklearn_dgex.datasets import read_h5ad
    >>> adata = anndata.AnnData(np.ones((2, 3), dtype=np.float32),
    ...                         obs=pd.DataFrame(index=["s1", "s2"]),
    ...                         var=pd.DataFrame(index=["g1", "g2", "g3"]))
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.h5ad")
    >>> adata.write_h5ad(path)
    >>> read_h5ad(path).shape
    (2, 3)
    """
    anndata = import_optional("anndata", "read_h5ad", extra="io")
    path = _existing_file(path)
    try:
        adata = anndata.read_h5ad(path)
    except Exception as error:  # h5py/anndata raise several types for a foreign file
        raise ValueError(f"{path!r} is not a readable .h5ad file: {error}") from None
    if layer is None:
        matrix = adata.X
    elif layer in adata.layers:
        matrix = adata.layers[layer]
    else:
        raise ValueError(f"layer={layer!r} is not in {path!r}; layers: {list(adata.layers)}.")
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    var = adata.var.copy()
    if gene_id_column is not None:
        if gene_id_column not in var.columns:
            raise ValueError(
                f"gene_id_column={gene_id_column!r} is not a column of var in {path!r}; "
                f"columns: {list(var.columns)}."
            )
        var.index = var[gene_id_column].astype(str)
    gene_ids = pd.Index(var.index.astype(str))
    sample_ids = pd.Index(adata.obs_names.astype(str))
    data = pd.DataFrame(np.asarray(matrix), index=sample_ids, columns=gene_ids)
    data = _validated(data, path, dtype)
    if return_meta:
        return data, ExpressionMeta(genes=var, samples=adata.obs.copy(), info=dict(adata.uns))
    return data


def write_h5ad(data, path, *, gene_meta=None, sample_meta=None):
    """Write a samples x genes DataFrame as an AnnData ``.h5ad`` file.

    Needs the optional ``anndata`` package. Values are stored as float32 in
    ``X``; samples are the observations (``obs_names``) and genes the
    variables (``var_names``).

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_genes)
        Values; the index gives the sample ids, the columns the gene ids.
    path : str or os.PathLike
        Output file (overwritten).
    gene_meta : pandas.DataFrame, default=None
        Gene annotations indexed by gene id (``var``).
    sample_meta : pandas.DataFrame, default=None
        Sample annotations indexed by sample id (``obs``).

    Returns
    -------
    None

    See Also
    --------
    read_h5ad : Read it back.
    write_gctx : The L1000 format.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import read_h5ad, write_h5ad
    >>> data = pd.DataFrame([[1.5, 2.5]], index=["s1"], columns=["TP53", "EGFR"])
    >>> path = os.path.join(tempfile.mkdtemp(), "one.h5ad")
    >>> write_h5ad(data, path)
    >>> read_h5ad(path).equals(data.astype("float32"))
    True
    """
    anndata = import_optional("anndata", "write_h5ad", extra="io")
    data = _as_expression_frame(data, "data")
    var = _aligned_meta(gene_meta, data.columns, "gene_meta").copy()
    obs = _aligned_meta(sample_meta, data.index, "sample_meta").copy()
    # AnnData refuses index names that are not str (a CSV's index is named 0).
    var.index = pd.Index(data.columns.astype(str)).rename(None)
    obs.index = pd.Index(data.index.astype(str)).rename(None)
    adata = anndata.AnnData(X=data.to_numpy(dtype=np.float32), obs=obs, var=var)
    adata.write_h5ad(os.fspath(path))


# -- npz -----------------------------------------------------------------------
def read_npz(
    path,
    *,
    data_key="X",
    genes_key="genes",
    samples_key="samples",
    genes_in="columns",
    dtype=np.float32,
    return_meta=False,
):
    """Read an expression matrix saved with :func:`numpy.savez`.

    The archive holds the matrix under ``data_key`` and the gene ids under
    ``genes_key``; sample ids under ``samples_key`` are optional (numbered
    from ``"0"`` when absent). Every other 1-D array as long as the genes
    becomes a gene annotation (e.g. ``symbols``, ``entrez`` of a probe-level
    microarray file), every other array as long as the samples a sample
    annotation (names starting ``sample`` are tried as samples first), and
    0-d arrays go to ``meta.info``. Pickled objects are never loaded.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    data_key, genes_key, samples_key : str, default="X", "genes", "samples"
        Names of the matrix, gene ids and sample ids in the archive.
    genes_in : {"columns", "rows"}, default="columns"
        ``"columns"`` when the matrix is samples x genes.
    dtype : numpy dtype, default=numpy.float32
        Type of the returned values.
    return_meta : bool, default=False
        Also return the annotations as an :class:`ExpressionMeta`.

    Returns
    -------
    data : pandas.DataFrame of shape (n_samples, n_genes)
    meta : ExpressionMeta
        Only with ``return_meta=True``.

    See Also
    --------
    sklearn_dgex.datasets.split_landmarks : Match probe-level data to
        landmarks through ``meta.genes["symbols"]``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_dgex.datasets import read_npz
    >>> path = os.path.join(tempfile.mkdtemp(), "expr.npz")
    >>> np.savez(path, X=np.ones((2, 3)), genes=np.array(["p1", "p2", "p3"]),
    ...          symbols=np.array(["TP53", "EGFR", "EGFR"]))
    >>> data, meta = read_npz(path, return_meta=True)
    >>> data.shape, meta.genes["symbols"].tolist()
    ((2, 3), ['TP53', 'EGFR', 'EGFR'])
    """
    genes_in = _check_genes_in(genes_in)
    path = _existing_file(path)
    arrays = _load_npz(path)
    for key in (data_key, genes_key):
        if key not in arrays:
            raise ValueError(
                f"{path!r} has no array {key!r}; it holds {sorted(arrays)}. "
                "Pass data_key= / genes_key= to name them."
            )
    matrix = arrays.pop(data_key)
    if matrix.ndim != 2:
        raise ValueError(f"{path!r}: {data_key!r} must be 2-D, got shape {matrix.shape}.")
    if genes_in == "rows":
        matrix = matrix.T
    gene_ids = pd.Index(arrays.pop(genes_key).astype(str))
    n_samples = matrix.shape[0]
    if samples_key in arrays:
        sample_ids = pd.Index(arrays.pop(samples_key).astype(str))
    else:
        sample_ids = pd.Index([str(i) for i in range(n_samples)])
    if matrix.shape != (len(sample_ids), len(gene_ids)):
        raise ValueError(
            f"{path!r}: {data_key!r} has shape {matrix.shape} (after genes_in={genes_in!r}) "
            f"but there are {len(sample_ids)} sample ids and {len(gene_ids)} gene ids."
        )
    data = pd.DataFrame(matrix, index=sample_ids, columns=gene_ids)
    data = _validated(data, path, dtype)
    if return_meta:
        return data, _npz_meta(arrays, gene_ids, sample_ids)
    return data


def _load_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path!r} is not a readable .npz file: {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path!r} is a single .npy array, not an .npz archive.")
    with archive:
        try:
            return {key: archive[key] for key in archive.files}
        except ValueError as error:  # object arrays would need pickle, which is unsafe
            raise ValueError(f"{path!r}: {error}; store ids as str arrays.") from None


def _npz_meta(arrays, gene_ids, sample_ids):
    genes, samples, info = {}, {}, {}
    for key, values in arrays.items():
        if values.ndim == 0:
            info[key] = values.item()
        elif values.ndim == 1 and len(values) == len(sample_ids) and key.startswith("sample"):
            samples[key] = values
        elif values.ndim == 1 and len(values) == len(gene_ids):
            genes[key] = values
        elif values.ndim == 1 and len(values) == len(sample_ids):
            samples[key] = values
        else:
            info[key] = values
    return ExpressionMeta(
        genes=pd.DataFrame(genes, index=gene_ids),
        samples=pd.DataFrame(samples, index=sample_ids),
        info=info,
    )


# -- shared checks -------------------------------------------------------------
def _existing_file(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"expression file not found: {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is not a regular file.")
    return path


def _check_genes_in(genes_in):
    if genes_in not in _GENES_IN:
        raise ValueError(f"genes_in must be one of {list(_GENES_IN)}, got {genes_in!r}.")
    return genes_in


def _oriented(table, genes_in):
    return table.T if genes_in == "rows" else table


def _numeric(table, path):
    """Convert text columns to numbers; fail on the first non-numeric value, naming it."""
    # Classify each distinct dtype once: tables have tens of thousands of columns.
    kinds = {dtype: _is_number_dtype(dtype) for dtype in set(table.dtypes)}
    is_number = np.array([kinds[dtype] for dtype in table.dtypes], dtype=bool)
    if is_number.all():
        return table
    table = table.copy()
    for position in np.flatnonzero(~is_number):
        column = table.iloc[:, position]
        converted = pd.to_numeric(column, errors="coerce")
        bad = column[converted.isna() & column.notna()]
        if len(bad):
            name = table.columns[position]
            raise ValueError(
                f"{path!r}: non-numeric value {bad.iloc[0]!r} in column {name!r} "
                f"(row {bad.index[0]!r}); expression values must be numbers."
            )
        table.isetitem(position, converted)
    return table


def _is_number_dtype(dtype):
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _validated(data, path, dtype):
    data.columns = pd.Index(data.columns.astype(str), name=None)
    data.index = pd.Index(data.index.astype(str), name=None)
    _check_unique_genes(data.columns, path)
    data = _numeric(data, path)
    return data.astype(dtype, copy=False)


def _check_unique_genes(gene_ids, path):
    duplicated = gene_ids[gene_ids.duplicated()].unique()
    if len(duplicated):
        raise ValueError(
            f"{path!r}: {len(duplicated)} gene id(s) occur more than once, e.g. "
            f"{list(duplicated[:5])}. Aggregate them first (for probe-level data, "
            "see split_landmarks(..., duplicates=...))."
        )


def _with_empty_meta(data, return_meta):
    if not return_meta:
        return data
    return data, ExpressionMeta(
        genes=pd.DataFrame(index=data.columns), samples=pd.DataFrame(index=data.index)
    )


def _as_expression_frame(data, name):
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame (samples x genes), got {type(data).__name__}."
        )
    if data.columns.duplicated().any():
        raise ValueError(f"{name} has duplicate gene ids (columns).")
    return data


def _aligned_meta(meta, ids, name):
    if meta is None:
        return pd.DataFrame(index=ids)
    if not isinstance(meta, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame or None, got {type(meta).__name__}.")
    missing = pd.Index(ids).difference(meta.index)
    if len(missing):
        raise ValueError(f"{name} lacks {len(missing)} id(s) of data, e.g. {list(missing[:5])}.")
    return meta.loc[ids]


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _decode(value.item())
    return value


def _decode_array(values):
    if values.dtype.kind in ("S", "O"):
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object
        )
    return values


def _meta_column(values):
    """Annotation values with CMap nulls as NaN, numeric when every value is."""
    values = np.asarray(values)
    if values.dtype.kind in "iuf":
        column = pd.Series(values)
        return column.where(column != -666).to_numpy()
    column = pd.Series(values, dtype=object).map(str)
    column = column.where(~column.isin(_META_NULLS))
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() == column.notna().sum() and column.notna().any():
        if (numbers.dropna() % 1 == 0).all() and numbers.notna().all():
            return numbers.astype(np.int64).to_numpy()
        return numbers.to_numpy()
    return column.to_numpy()
