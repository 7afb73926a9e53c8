"""tools/landmark_aliases.py: the rules that build the shipped alias table."""

import importlib.util
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from sklearn_dgex.datasets import load_l1000_aliases

ROOT = Path(__file__).resolve().parents[2]
REAL_SOURCE = Path("/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite")


def _tool():
    spec = importlib.util.spec_from_file_location(
        "landmark_aliases", ROOT / "tools" / "landmark_aliases.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _org_db(path, genes):
    """An SQLite file with org.Hs.eg.db's tables: {entrez: (symbol, [aliases])}."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE genes (_id INTEGER PRIMARY KEY, gene_id TEXT);"
        "CREATE TABLE gene_info (_id INTEGER, gene_name TEXT, symbol TEXT);"
        "CREATE TABLE alias (_id INTEGER, alias_symbol TEXT);"
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "INSERT INTO metadata VALUES ('EGSOURCEDATE', '2099-Jan01');"
    )
    for key, (entrez, (symbol, aliases)) in enumerate(genes.items()):
        db.execute("INSERT INTO genes VALUES (?, ?)", (key, entrez))
        db.execute("INSERT INTO gene_info VALUES (?, 'name', ?)", (key, symbol))
        for alias in {symbol, *aliases}:  # org.Hs.eg.db lists the symbol among the aliases
            db.execute("INSERT INTO alias VALUES (?, ?)", (key, alias))
    db.commit()
    db.close()
    return path


def test_rules_of_the_table(tmp_path):
    landmarks = tmp_path / "landmarks.tsv"
    landmarks.write_text("OLD1\t1\nKEEP\t2\nSECOND\t3\n")
    source = _org_db(
        tmp_path / "org.sqlite",
        {
            "1": ("NEW1", ["OLD1", "SHARED", "ONLY1", "KEEP"]),  # renamed landmark
            "2": ("KEEP", ["NEW1X", "GIFLIKE"]),
            "3": ("SECOND", ["SHARED", "NEW2"]),
            "9": ("OTHER", ["GIFLIKE"]),  # a non-landmark gene that shares a name
            "10": ("NEW2X", ["NEW1"]),  # lists the landmark's current symbol as an alias
        },
    )
    rows, release = _tool().build(source, landmarks)
    table = {(symbol, alias): kind for symbol, _, alias, kind in rows}
    assert release == "2099-Jan01"
    assert table == {
        ("OLD1", "NEW1"): "current",  # kept although gene 10 lists it as an alias
        ("OLD1", "ONLY1"): "alias",
        ("KEEP", "NEW1X"): "alias",
        ("SECOND", "NEW2"): "alias",
    }  # no SHARED (two landmarks), GIFLIKE (another gene), KEEP (a listed symbol)


@pytest.mark.skipif(not REAL_SOURCE.exists(), reason="r-bioc-org.hs.eg.db is not installed")
def test_shipped_table_is_what_the_tool_builds(tmp_path):
    output = tmp_path / "aliases.tsv"
    _tool().main([str(REAL_SOURCE), "-o", str(output)])
    rebuilt = pd.read_csv(output, sep="\t", comment="#", keep_default_na=False)
    pd.testing.assert_frame_equal(rebuilt, load_l1000_aliases(), check_dtype=False)
