"""Data for the benchmark: the synthetic default or the user's own file, split three ways."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class BenchmarkData:
    """Landmarks ``X`` and targets ``Y`` split into train / validation / test (float32)."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    landmark_names: list
    target_names: list
    source: str
    landmark_match: dict | None = None

    @property
    def n_landmarks(self):
        return self.X_train.shape[1]

    @property
    def n_targets(self):
        return self.Y_train.shape[1]

    def describe(self):
        info = {
            "source": self.source,
            "n_landmarks": self.n_landmarks,
            "n_targets": self.n_targets,
            "n_train": len(self.X_train),
            "n_val": len(self.X_val),
            "n_test": len(self.X_test),
        }
        if self.landmark_match is not None:
            info["landmark_match"] = self.landmark_match
        return info


def synthetic_data(data_spec, *, n_samples=None, val_size, test_size, random_state):
    """The synthetic default of ``data_spec``, split at random over samples.

    The groups of ``make_expression`` are tissues shared by many samples, like
    the study's GEO profiles, so the split is over samples, as in the study.
    """
    from sklearn_dgex.datasets import make_expression

    n_samples = data_spec.n_samples if n_samples is None else n_samples
    X, Y = make_expression(
        n_samples=n_samples,
        n_landmarks=data_spec.n_landmarks,
        n_targets=data_spec.n_targets,
        as_frame=True,
        random_state=random_state,
        **data_spec.generator,
    )
    source = (
        f"make_expression(n_samples={n_samples}, n_landmarks={data_spec.n_landmarks}, "
        f"n_targets={data_spec.n_targets}, random_state={random_state})"
    )
    return _split(X, Y, source, val_size, test_size, random_state)


def user_data(
    data_path,
    *,
    landmarks_path=None,
    id_type="symbol",
    gene_column=None,
    genes_in=None,
    n_samples=None,
    val_size,
    test_size,
    random_state,
):
    """Read ``data_path`` (any format of ``sklearn_dgex.datasets``), match landmarks, split.

    ``landmarks_path`` is a text file with one gene identifier per line, or a
    CSV/TSV table with a ``symbol`` or ``entrez_id`` column (the layout of the
    shipped L1000 list); without it the 978 L1000 landmarks are used.
    ``gene_column`` names a gene annotation of the file (e.g. ``symbols`` of a
    probe-level npz) whose values are matched instead of the column ids;
    ``genes_in="rows"`` reads a genes x samples table.
    """
    X, Y, match = read_and_split(data_path, landmarks_path, id_type, gene_column, genes_in)
    if n_samples is not None and n_samples < len(X):
        rows = np.sort(np.random.default_rng(random_state).choice(len(X), n_samples, replace=False))
        X, Y = X.iloc[rows], Y.iloc[rows]
    split = _split(X, Y, str(data_path), val_size, test_size, random_state)
    split.landmark_match = {
        "n_landmarks": match.n_landmarks,
        "n_matched": match.n_matched,
        "missing": list(match.missing),
        "n_collapsed": match.n_collapsed,
        "n_unannotated": match.n_unannotated,
    }
    return split


def read_and_split(
    data_path, landmarks_path=None, id_type="symbol", gene_column=None, genes_in=None
):
    """``(X, Y, match)``: a file's profiles split into landmarks and targets by gene id.

    The options of :func:`user_data`, whose reading and matching this is.
    """
    from sklearn_dgex.datasets import read_expression, split_landmarks

    reader_kwargs = {} if genes_in is None else {"genes_in": genes_in}
    data, meta = read_expression(data_path, return_meta=True, **reader_kwargs)
    gene_ids = None
    if gene_column is not None:
        if gene_column not in meta.genes.columns:
            raise ValueError(
                f"--gene-column {gene_column!r} is not a gene annotation of {str(data_path)!r}; "
                f"it has {list(meta.genes.columns)}"
            )
        gene_ids = meta.genes[gene_column].to_numpy()
    landmarks = None if landmarks_path is None else read_landmark_list(landmarks_path, id_type)
    return split_landmarks(data, landmarks, id_type=id_type, gene_ids=gene_ids, return_match=True)


def read_landmark_list(path, id_type="symbol"):
    """Gene ids from a one-per-line file or a table with a ``symbol``/``entrez_id`` column."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--landmarks: no such file {str(path)!r}")
    column = "entrez_id" if id_type == "entrez" else "symbol"
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    table = pd.read_csv(path, sep=sep, dtype=str, comment="#")
    if column in table.columns:
        ids = table[column]
    elif table.shape[1] == 1:
        # No recognised header: a plain list, whose first line is an identifier too.
        ids = pd.read_csv(path, sep=sep, dtype=str, header=None, comment="#").iloc[:, 0]
    else:
        raise ValueError(
            f"--landmarks {str(path)!r}: expected one identifier per line or a table with a "
            f"{column!r} column, got columns {list(table.columns)}"
        )
    ids = [value.strip() for value in ids.dropna() if value.strip()]
    if not ids:
        raise ValueError(f"--landmarks {str(path)!r} lists no gene identifiers")
    return ids


def _split(X, Y, source, val_size, test_size, random_state):
    from sklearn_dgex.datasets import train_val_test_split

    X_train, X_val, X_test, Y_train, Y_val, Y_test = train_val_test_split(
        X, Y, val_size=val_size, test_size=test_size, random_state=random_state
    )
    return BenchmarkData(
        *(_as_float32(part) for part in (X_train, Y_train, X_val, Y_val, X_test, Y_test)),
        landmark_names=[str(name) for name in X.columns],
        target_names=[str(name) for name in Y.columns],
        source=source,
    )


def _as_float32(part):
    values = part.to_numpy() if hasattr(part, "to_numpy") else part
    return np.ascontiguousarray(values, dtype=np.float32)
