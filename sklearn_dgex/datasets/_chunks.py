"""Expression files read and written a block of samples at a time.

The command line predicts files larger than memory with these: a
:class:`SampleChunks` reads the gene ids of a file, then yields its samples
``chunk_size`` at a time, restricted to the genes asked for; a
:class:`ChunkWriter` appends blocks of rows to an output file and puts it in
place only when every block is written, so that a failure leaves no
half-written file.

GCTX, CSV/TSV with samples in rows, Parquet and h5ad are read in blocks.
Formats that store genes in rows (GCT, tables with ``genes_in="rows"``) and
npz archives cannot give one sample without reading the whole file: they are
read at once and then cut into blocks. GCTX, CSV/TSV and Parquet are written
in blocks; GCT (genes in rows), h5ad and npz are gathered and written at the
end.
"""

import contextlib
import os

import numpy as np
import pandas as pd

from .._optional import import_optional
from . import readers
from .readers import (
    _DATA_NULLS,
    _GCTX_COL_META,
    _GCTX_MATRIX,
    _GCTX_ROW_META,
    _GCTX_VERSION,
    _aligned_meta,
    _decode_array,
    _existing_file,
    _format_from_extension,
    _meta_for_hdf5,
    _utf8,
    _validated,
)


class SampleChunks:
    """The samples of an expression file, a block at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : str, default=None
        As for :func:`~sklearn_dgex.datasets.read_expression`.
    genes_in : {"columns", "rows"}, default="columns"
        Orientation of CSV/TSV, Parquet and npz files.
    """

    def __init__(self, path, format=None, genes_in="columns"):
        self.path = _existing_file(path)
        self.format = format or _format_from_extension(path)
        self.genes_in = genes_in
        self._whole = None
        self.gene_ids, self.n_samples = self._header()

    def _reader_kwargs(self):
        if self.format in ("table", "parquet", "npz"):
            return {"genes_in": self.genes_in}
        return {}

    def _streams(self):
        return self.genes_in == "columns" and self.format in ("gctx", "table", "parquet", "h5ad")

    def _header(self):
        if not self._streams():
            self._whole = readers.read_expression(
                self.path, format=self.format, **self._reader_kwargs()
            )
            return self._whole.columns, len(self._whole)
        return getattr(self, f"_header_{self.format}")()

    def _header_gctx(self):
        h5py = import_optional("h5py", "read_gctx", extra="io")
        # read_gctx checks the layout and the ids; reading no sample keeps it cheap.
        data = readers.read_gctx(self.path, samples=[])
        with h5py.File(self.path, "r") as handle:
            n_samples = len(handle[f"{_GCTX_COL_META}/id"])
        return data.columns, n_samples

    def _header_table(self):
        # The first row, through the reader: its checks (repeated gene ids, separator) apply.
        self._sep = "," if ".csv" in os.path.basename(self.path).lower() else "\t"
        first = pd.read_csv(
            self.path, sep=self._sep, header=None, nrows=1, dtype=str, keep_default_na=False
        )
        names = pd.Index(first.iloc[0, 1:].astype(str).to_numpy())
        readers._check_unique_genes(names, self.path)
        return names, None  # counting the rows would read the file twice

    def _header_parquet(self):
        import_optional("pyarrow", "read_parquet", extra="io")
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(self.path)
        except Exception as error:  # pyarrow raises several types for a non-Parquet file
            raise ValueError(f"{self.path!r} is not a readable Parquet file: {error}") from None
        metadata = handle.schema_arrow.pandas_metadata or {}
        self._index_columns = [c for c in metadata.get("index_columns", []) if isinstance(c, str)]
        names = [n for n in handle.schema_arrow.names if n not in self._index_columns]
        names = pd.Index(names).astype(str)
        readers._check_unique_genes(names, self.path)
        return names, handle.metadata.num_rows

    def _header_h5ad(self):
        anndata = import_optional("anndata", "read_h5ad", extra="io")
        try:
            self._adata = anndata.read_h5ad(self.path, backed="r")
        except Exception as error:  # h5py/anndata raise several types for a foreign file
            raise ValueError(f"{self.path!r} is not a readable .h5ad file: {error}") from None
        names = pd.Index(self._adata.var_names.astype(str))
        readers._check_unique_genes(names, self.path)
        return names, self._adata.n_obs

    def iter(self, columns, chunk_size):
        """Yield DataFrames of at most ``chunk_size`` samples and the given columns.

        Parameters
        ----------
        columns : array-like of int
            Positions, in ``gene_ids``, of the genes to read, in the order wanted.
        chunk_size : int
            Samples per block.
        """
        columns = np.asarray(columns, dtype=np.intp)
        if self._whole is not None:
            for start in range(0, len(self._whole), chunk_size):
                yield self._whole.iloc[start : start + chunk_size, columns]
            return
        yield from getattr(self, f"_iter_{self.format}")(columns, chunk_size)

    def _iter_gctx(self, columns, chunk_size):
        import h5py

        with h5py.File(self.path, "r") as handle:
            matrix = handle[_GCTX_MATRIX]
            sample_ids = handle[f"{_GCTX_COL_META}/id"]
            for start in range(0, self.n_samples, chunk_size):
                stop = min(start + chunk_size, self.n_samples)
                ids = _decode_array(sample_ids[start:stop])
                block = pd.DataFrame(
                    matrix[start:stop][:, columns], index=ids, columns=self.gene_ids[columns]
                )
                yield _validated(block, self.path, np.float32)

    def _iter_table(self, columns, chunk_size):
        usecols = [0, *(columns + 1)]
        blocks = pd.read_csv(
            self.path,
            sep=self._sep,
            header=None,
            skiprows=1,
            usecols=usecols,
            index_col=0,
            na_values=_DATA_NULLS,
            chunksize=chunk_size,
        )
        for block in blocks:
            # usecols keeps the file's order; put the columns in the order asked for.
            block.columns = self.gene_ids[np.sort(columns)]
            block.index.name = None
            yield _validated(block.loc[:, self.gene_ids[columns]], self.path, np.float32)

    def _iter_parquet(self, columns, chunk_size):
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = list(self.gene_ids[columns])
        handle = pq.ParquetFile(self.path)
        done = 0
        for batch in handle.iter_batches(
            batch_size=chunk_size, columns=names + self._index_columns
        ):
            block = pa.Table.from_batches([batch]).to_pandas()
            if not self._index_columns:  # a RangeIndex, as read_parquet numbers the rows
                block.index = pd.RangeIndex(done, done + len(block))
            done += len(block)
            yield _validated(block.loc[:, names], self.path, np.float32)

    def _iter_h5ad(self, columns, chunk_size):
        for start in range(0, self.n_samples, chunk_size):
            part = self._adata[start : start + chunk_size]
            matrix = part.X[:, columns] if len(columns) else np.empty((part.n_obs, 0))
            if hasattr(matrix, "toarray"):
                matrix = matrix.toarray()
            block = pd.DataFrame(
                np.asarray(matrix), index=part.obs_names, columns=self.gene_ids[columns]
            )
            yield _validated(block, self.path, np.float32)


class ChunkWriter:
    """Write blocks of rows (samples) with the same columns to one expression file.

    Use as a context manager; the file appears under ``path`` when the block
    ends without an error, and not at all otherwise.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its extension gives the format.
    gene_meta : pandas.DataFrame, default=None
        Gene annotations for GCTX, GCT and h5ad output.
    """

    def __init__(self, path, gene_meta=None):
        self.path = os.fspath(path)
        self.format = _format_from_extension(self.path)
        folder, name = os.path.split(self.path)
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(f"the folder of the output {self.path!r} does not exist.")
        self._partial = os.path.join(folder, f".partial-{os.getpid()}-{name}")
        self._gene_meta = gene_meta
        self._gathered = []
        self._handle = None
        self.n_rows = 0

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                self._finish()
        finally:
            self._close()
            if kind is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._partial)
        return False

    def write(self, block):
        """Append the rows of ``block`` (a samples x genes DataFrame)."""
        writer = getattr(self, f"_write_{self.format}", None)
        if writer is None:
            self._gathered.append(block)
        else:
            writer(block)
        self.n_rows += len(block)

    def _write_gctx(self, block):
        import h5py

        if self._handle is None:
            self._handle = h5py.File(self._partial, "w")
            self._handle.attrs["version"] = _GCTX_VERSION
            self._handle.attrs["src"] = os.path.basename(self.path)
            n_genes = block.shape[1]
            self._handle.create_dataset(
                _GCTX_MATRIX,
                shape=(0, n_genes),
                maxshape=(None, n_genes),
                dtype=np.float32,
                chunks=(max(1, min(len(block), 2**20 // max(n_genes, 1))), max(n_genes, 1)),
            )
            genes = _aligned_meta(self._gene_meta, block.columns, "gene_meta")
            rows = self._handle.create_group(_GCTX_ROW_META, track_order=True)
            rows.create_dataset("id", data=_utf8(genes.index))
            for name in genes.columns:
                rows.create_dataset(str(name), data=_meta_for_hdf5(genes[name]))
            columns = self._handle.create_group(_GCTX_COL_META, track_order=True)
            columns.create_dataset("id", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
        matrix = self._handle[_GCTX_MATRIX]
        ids = self._handle[f"{_GCTX_COL_META}/id"]
        start, stop = self.n_rows, self.n_rows + len(block)
        matrix.resize(stop, axis=0)
        ids.resize(stop, axis=0)
        matrix[start:stop] = block.to_numpy(dtype=np.float32)
        ids[start:stop] = [str(sample) for sample in block.index]

    def _write_table(self, block):
        sep = "," if ".csv" in os.path.basename(self.path).lower() else "\t"
        block.to_csv(
            self._partial,
            sep=sep,
            float_format="%.9g",
            na_rep="NaN",
            mode="w" if self.n_rows == 0 else "a",
            header=self.n_rows == 0,
        )

    def _write_parquet(self, block):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(block.set_axis(block.columns.astype(str), axis=1))
        if self._handle is None:
            self._handle = pq.ParquetWriter(self._partial, table.schema)
        self._handle.write_table(table)

    def _finish(self):
        if self._gathered or (self.n_rows == 0 and self._handle is None):
            data = pd.concat(self._gathered) if self._gathered else pd.DataFrame()
            meta = (
                {} if self.format in ("table", "parquet", "npz") else {"gene_meta": self._gene_meta}
            )
            readers.write_expression(data, self._partial, format=self.format, **meta)
        self._close()
        os.replace(self._partial, self.path)

    def _close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None
