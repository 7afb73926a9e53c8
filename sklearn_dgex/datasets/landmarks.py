"""The L1000 landmark genes and the split of expression tables into landmarks and targets."""

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "LandmarkMatch",
    "MissingLandmarksWarning",
    "load_l1000_aliases",
    "load_l1000_landmarks",
    "split_landmarks",
]

_LANDMARKS_FILE = "l1000_landmarks_978.tsv"
_ALIASES_FILE = "l1000_landmark_aliases.tsv"


def load_l1000_landmarks():
    """Load the 978 landmark genes of the L1000 platform.

    The list ships with the package (``datasets/data/l1000_landmarks_978.tsv``,
    a header-less table of HGNC symbols and Entrez gene ids).

    Returns
    -------
    landmarks : pandas.DataFrame of shape (978, 2)
        Columns ``symbol`` (str) and ``entrez_id`` (int64), in the file's
        order. A fresh copy on every call, so callers may modify it.

    See Also
    --------
    sklearn_dgex.datasets.split_landmarks : Select these genes from an
        expression table.

    Examples
    --------
    >>> from sklearn_dgex.datasets import load_l1000_landmarks
    >>> landmarks = load_l1000_landmarks()
    >>> landmarks.shape
    (978, 2)
    >>> landmarks["symbol"].iloc[0], int(landmarks["entrez_id"].iloc[0])
    ('AARS', 16)
    """
    return _read_landmarks().copy()


@lru_cache(maxsize=1)
def _read_landmarks():
    path = resources.files(__package__) / "data" / _LANDMARKS_FILE
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(
            handle,
            sep="\t",
            header=None,
            names=["symbol", "entrez_id"],
            dtype={"symbol": str, "entrez_id": "int64"},
            keep_default_na=False,
        )
    return table


def load_l1000_aliases():
    """Load the other names of the L1000 landmark genes (current HGNC symbols and aliases).

    The table ships with the package
    (``datasets/data/l1000_landmark_aliases.tsv``). It was built from NCBI
    Entrez Gene as packaged by Bioconductor's org.Hs.eg.db (Debian package
    ``r-bioc-org.hs.eg.db``; ``tools/landmark_aliases.py`` rebuilds it): for
    each landmark, found by its Entrez id, every other name of its gene. A
    name is left out when it could mean another gene: when it is the
    official symbol of another gene, the listed symbol of another landmark,
    or a name of more than one landmark. Each name in the table therefore
    means exactly one landmark.

    Returns
    -------
    aliases : pandas.DataFrame
        Columns ``symbol`` (the landmark's symbol in
        :func:`load_l1000_landmarks`), ``entrez_id`` (int64), ``alias`` (the
        other name) and ``kind`` ("current" for today's official symbol of a
        renamed landmark, "alias" for the other names). A fresh copy on
        every call.

    See Also
    --------
    split_landmarks : Uses the table to match renamed landmarks.

    Examples
    --------
    >>> from sklearn_dgex.datasets import load_l1000_aliases
    >>> aliases = load_l1000_aliases()
    >>> renamed = aliases[aliases["kind"] == "current"].set_index("symbol")["alias"]
    >>> renamed[["AARS", "IKBKAP", "SQRDL", "H2AFV", "HN1L"]].tolist()
    ['AARS1', 'ELP1', 'SQOR', 'H2AZ2', 'JPT2']
    """
    return _read_aliases().copy()


@lru_cache(maxsize=1)
def _read_aliases():
    path = resources.files(__package__) / "data" / _ALIASES_FILE
    with path.open("r", encoding="utf-8") as handle:
        return pd.read_csv(
            handle,
            sep="\t",
            comment="#",
            dtype={"symbol": str, "entrez_id": "int64", "alias": str, "kind": str},
            keep_default_na=False,
        )


class MissingLandmarksWarning(UserWarning):
    """The data lacks some of the requested landmark genes."""


_ID_COLUMNS = {"symbol": "symbol", "entrez": "entrez_id"}
_DUPLICATES = ("mean", "first", "error")


@dataclass
class LandmarkMatch:
    """How the landmark list matched the data's genes.

    Attributes
    ----------
    matched : list of str
        Landmark ids found in the data, in the landmark list's order (the
        columns of ``X``).
    missing : list of str
        Landmark ids the data lacks.
    n_landmarks : int
        Length of the landmark list.
    n_matched : int
        ``len(matched)``.
    n_targets : int
        Number of target columns (``Y``).
    n_collapsed : int
        Number of data columns merged into others because they shared a
        gene id (probe-level data).
    n_unannotated : int
        Number of data columns dropped because their gene id was missing.
    aliased : dict
        Landmarks matched through another name: landmark id -> the data's
        id (for example ``{"AARS": "AARS1"}``).

    Examples
    --------
    >>> from sklearn_dgex.datasets import LandmarkMatch
    >>> match = LandmarkMatch(matched=["A", "C"], missing=["B"], n_landmarks=3,
    ...                       n_targets=5, aliased={"C": "C1"})
    >>> match.n_matched
    2
    >>> match
    LandmarkMatch(2/3 landmarks matched, 1 through an alias (C as C1), 1 missing (B), 5 targets)
    """

    matched: list
    missing: list
    n_landmarks: int
    n_targets: int
    n_collapsed: int = 0
    n_unannotated: int = 0
    aliased: dict = field(default_factory=dict)

    def __repr__(self):
        # Hundreds of ids help no one in a console: counts and the first few.
        parts = [f"{self.n_matched}/{self.n_landmarks} landmarks matched"]
        if self.aliased:
            pairs = [f"{landmark} as {name}" for landmark, name in self.aliased.items()]
            parts.append(f"{len(pairs)} through an alias ({_first(pairs)})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({_first(self.missing)})")
        parts.append(f"{self.n_targets} targets")
        if self.n_collapsed:
            parts.append(f"{self.n_collapsed} columns collapsed")
        if self.n_unannotated:
            parts.append(f"{self.n_unannotated} unannotated columns dropped")
        return f"LandmarkMatch({', '.join(parts)})"

    @property
    def n_matched(self):
        return len(self.matched)

    @property
    def fraction_matched(self):
        """Share of the landmark list found in the data."""
        return self.n_matched / self.n_landmarks if self.n_landmarks else 0.0


def _first(ids, limit=5):
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f", ... {len(ids) - limit} more" if len(ids) > limit else "")


def split_landmarks(
    data,
    landmarks=None,
    id_type="symbol",
    *,
    gene_ids=None,
    duplicates="mean",
    aliases=True,
    return_match=False,
):
    """Split an expression table into landmark genes (X) and target genes (Y).

    Columns are matched by gene identifier, never by position. Landmarks the
    data lacks are reported with a :class:`MissingLandmarksWarning` (a
    landmark list typically matches 95-99% of a platform's genes; the D-GEX
    study used the 942 of 978 L1000 landmarks its microarrays measure).

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_columns)
        Expression values, one column per gene or probe.
    landmarks : list of str or int, or pandas.DataFrame, default=None
        The landmark ids. A DataFrame must have the column of ``id_type``
        (``symbol`` or ``entrez_id``), as :func:`load_l1000_landmarks`
        returns. Default: the 978 L1000 landmarks.
    id_type : {"symbol", "entrez"}, default="symbol"
        Kind of identifier to match: HGNC symbols (case-sensitive) or Entrez
        gene ids (compared as integers written in text, so ``"16"``,
        ``16`` and ``"16.0"`` agree).
    gene_ids : array-like of shape (n_columns,) or pandas.Series, default=None
        Gene id of each column when the columns are not gene ids, e.g. the
        symbol of each microarray probe (``meta.genes["symbols"]`` of
        :func:`read_npz`). A Series is aligned on the column names.
        Columns whose id is missing or empty are dropped. Default: the
        column names themselves.
    duplicates : {"mean", "first", "error"}, default="mean"
        What to do with columns sharing a gene id (several probes of one
        gene): average them, keep the first, or raise. Applies to landmarks
        and targets alike, so that every column of X and Y is one gene.
    aliases : bool, default=True
        With ``id_type="symbol"``, also match a landmark of the L1000 list
        through its other names (:func:`load_l1000_aliases`): today's HGNC
        symbol of a renamed landmark (``AARS1`` for ``AARS``, ``ELP1`` for
        ``IKBKAP``) and its aliases (``CDC2`` for ``CDK1``). A column whose
        id is a landmark's listed symbol always matches that landmark, and a
        landmark found under its listed symbol takes no aliased column (that
        column stays a target). The table holds no name that is the official
        symbol of another gene or a name of two landmarks, so an alias never
        picks the wrong landmark. ``X``'s columns carry the listed symbols;
        ``match.aliased`` says which columns matched through an alias.
        Entrez ids do not change with renamings and need no aliases.
    return_match : bool, default=False
        Also return a :class:`LandmarkMatch` describing the matching.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_matched)
        Landmark genes, in the order of the landmark list.
    Y : pandas.DataFrame of shape (n_samples, n_targets)
        Every other gene, in the data's order; no landmark is a target.
    match : LandmarkMatch
        Only with ``return_match=True``.

    Raises
    ------
    ValueError
        If no landmark matches (wrong ``id_type``, or probe ids without
        ``gene_ids``), or ``duplicates="error"`` and ids repeat.

    See Also
    --------
    load_l1000_landmarks : The default landmark list.
    sklearn_dgex.datasets.read_expression : Read the data from a file.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_dgex.datasets import split_landmarks
    >>> data = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]],
    ...                     columns=["p1", "p2", "p3", "p4"])
    >>> symbols = ["AARS", "AARS", "TP53", "MYC"]
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     X, Y, match = split_landmarks(data, landmarks=["AARS", "ABCB6"],
    ...                                   gene_ids=symbols, return_match=True)
    >>> X.to_dict("list"), list(Y.columns), match.missing
    ({'AARS': [1.5]}, ['TP53', 'MYC'], ['ABCB6'])
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            "data must be a pandas DataFrame whose columns are gene ids "
            f"(see sklearn_dgex.datasets.read_expression), got {type(data).__name__}."
        )
    if id_type not in _ID_COLUMNS:
        raise ValueError(f"id_type must be one of {sorted(_ID_COLUMNS)}, got {id_type!r}.")
    if duplicates not in _DUPLICATES:
        raise ValueError(f"duplicates must be one of {list(_DUPLICATES)}, got {duplicates!r}.")
    wanted = _landmark_ids(landmarks, id_type)
    keys = _column_keys(data, gene_ids, id_type)
    aliased = {}
    if aliases and id_type == "symbol":
        keys, aliased = _resolve_aliases(keys, wanted)
    annotated = keys.notna().to_numpy()
    genes, n_collapsed = _one_column_per_gene(data.loc[:, annotated], keys[annotated], duplicates)
    is_landmark = genes.columns.isin(wanted)
    matched = [gene for gene in wanted if gene in set(genes.columns[is_landmark])]
    if not matched:
        raise ValueError(
            f"none of the {len(wanted)} landmarks matches a column of data by {id_type}; "
            "check id_type, or pass gene_ids= when the columns are probe ids "
            f"(first columns: {list(map(str, data.columns[:3]))})."
        )
    missing = [gene for gene in wanted if gene not in set(matched)]
    match = LandmarkMatch(
        matched=matched,
        missing=missing,
        n_landmarks=len(wanted),
        n_targets=int((~is_landmark).sum()),
        n_collapsed=n_collapsed,
        n_unannotated=int((~annotated).sum()),
        aliased={landmark: aliased[landmark] for landmark in matched if landmark in aliased},
    )
    if missing:
        warnings.warn(
            f"data lacks {len(missing)} of {len(wanted)} landmarks "
            f"({match.n_matched} matched), e.g. {missing[:10]}.",
            MissingLandmarksWarning,
            stacklevel=2,
        )
    X, Y = genes.loc[:, matched], genes.loc[:, ~is_landmark]
    return (X, Y, match) if return_match else (X, Y)


def _landmark_ids(landmarks, id_type):
    if landmarks is None:
        landmarks = load_l1000_landmarks()
    if isinstance(landmarks, pd.DataFrame):
        column = _ID_COLUMNS[id_type]
        if column not in landmarks.columns:
            raise ValueError(
                f"landmarks has no {column!r} column for id_type={id_type!r}; "
                f"columns: {list(landmarks.columns)}."
            )
        landmarks = landmarks[column]
    if isinstance(landmarks, str):
        raise TypeError("landmarks must be a list of ids, not a single string.")
    ids = _normalised_ids(pd.Series(list(landmarks), dtype=object), id_type).dropna()
    return list(dict.fromkeys(ids))


def _resolve_aliases(keys, wanted):
    """Keys with the other names of wanted landmarks replaced by the landmarks' ids."""
    table = _read_aliases()
    table = table[table["symbol"].isin(wanted)]
    landmark_of = dict(zip(table["alias"], table["symbol"]))
    present = set(keys.dropna())
    aliased, resolved = {}, keys.copy()
    for position, key in enumerate(keys):
        landmark = landmark_of.get(key)
        if landmark is None or landmark in present or aliased.get(landmark, key) != key:
            continue  # not an alias, the landmark is there by its own id, or taken
        aliased[landmark] = key
        resolved.iloc[position] = landmark
    return resolved, aliased


def _column_keys(data, gene_ids, id_type):
    if gene_ids is None:
        keys = pd.Series(data.columns, dtype=object)
    elif isinstance(gene_ids, pd.Series):
        keys = gene_ids.reindex(data.columns)
        keys = pd.Series(keys.to_numpy(), dtype=object)
    else:
        keys = pd.Series(list(gene_ids), dtype=object)
        if len(keys) != data.shape[1]:
            raise ValueError(
                f"gene_ids has {len(keys)} entries but data has {data.shape[1]} columns."
            )
    return _normalised_ids(keys, id_type)


def _normalised_ids(ids, id_type):
    text = ids.map(lambda value: None if pd.isna(value) else str(value).strip())
    text = text.where(text.notna() & (text != ""))
    if id_type == "entrez":
        # "16", 16 and "16.0" are one gene; non-integers stay as they are
        # (e.g. "100133684 /// 2621" of a multi-gene probe, which matches no landmark).
        numbers = pd.to_numeric(text, errors="coerce")
        integral = numbers.notna() & (numbers % 1 == 0)
        text = text.where(~integral, numbers[integral].astype("Int64").astype(str))
    return text


def _one_column_per_gene(data, keys, duplicates):
    keys = pd.Index(keys.to_numpy(), dtype=object)
    if not keys.has_duplicates:
        genes = data.copy()
        genes.columns = keys.astype(str)
        return genes, 0
    repeated = keys[keys.duplicated()].unique()
    if duplicates == "error":
        raise ValueError(
            f"{len(repeated)} gene id(s) label more than one column, e.g. {list(repeated[:5])}; "
            "use duplicates='mean' or 'first'."
        )
    n_collapsed = int(keys.duplicated().sum())
    if duplicates == "first":
        keep = ~keys.duplicated()
        genes = data.loc[:, keep].copy()
        genes.columns = keys[keep].astype(str)
        return genes, n_collapsed
    # Mean over the probes of each gene; pandas' groupby skips NaN.
    codes, uniques = pd.factorize(keys)
    means = data.T.groupby(codes, sort=True).mean().T
    means.columns = pd.Index(uniques.astype(str))
    return means.astype(_mean_dtype(data.dtypes), copy=False), n_collapsed


def _mean_dtype(dtypes):
    """One floating dtype that holds the means of all columns without rounding them.

    float32 data stays float32; integers, mixed or non-numpy dtypes give float64.
    """
    numpy_dtypes = [dtype for dtype in dtypes if isinstance(dtype, np.dtype)]
    if len(numpy_dtypes) != len(dtypes) or not all(d.kind in "biuf" for d in numpy_dtypes):
        return np.float64
    common = np.result_type(np.float32, *numpy_dtypes)
    return common if common.kind == "f" and common.itemsize >= 4 else np.float64
