"""The L1000 landmark genes and the split of expression tables into landmarks and targets."""

from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["load_l1000_landmarks"]

_LANDMARKS_FILE = "l1000_landmarks_978.tsv"


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
