"""Regenerate ``sklearn_dgex/datasets/data/l1000_landmark_aliases.tsv`` from org.Hs.eg.db.

The source is Bioconductor's org.Hs.eg.db (NCBI Entrez Gene), whose SQLite
file ships in the Debian package ``r-bioc-org.hs.eg.db``::

    apt-get install r-bioc-org.hs.eg.db
    python tools/landmark_aliases.py \\
        /usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite

For every landmark of the shipped list, its gene is found by Entrez id
(stable across renamings) and every other name of that gene is written: the
current official symbol (``kind`` "current") and the other aliases
(``kind`` "alias"). A name is left out when it could point at another gene:

- an alias (not the current symbol) that is also a name of another gene,
  official or not: ``GIF`` is an alias of MIF, but it was the official
  symbol of the gastric intrinsic factor (now CBLIF) in older annotations,
  where it means that gene. The current symbol is kept even when another
  gene lists it as an alias (``ELP1`` is also an alias of KDELR2, but it is
  the official symbol of the landmark IKBKAP's gene);
- it is the listed symbol of another landmark;
- it is a name of more than one landmark.

Every name left in the table therefore means one landmark and, apart from
current symbols, no other gene in that release of Entrez Gene.
"""

import argparse
import csv
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "sklearn_dgex" / "datasets" / "data"
LANDMARKS = DATA / "l1000_landmarks_978.tsv"
OUTPUT = DATA / "l1000_landmark_aliases.tsv"


def build(sqlite_path, landmarks_path=LANDMARKS):
    """Rows ``(symbol, entrez_id, alias, kind)`` and the source's release date."""
    with open(landmarks_path, encoding="utf-8") as handle:
        landmarks = [(row[0], row[1]) for row in csv.reader(handle, delimiter="\t")]
    db = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    official = {}  # entrez id -> official symbol
    for entrez, symbol in db.execute(
        "SELECT g.gene_id, i.symbol FROM genes g JOIN gene_info i USING (_id)"
    ):
        official[entrez] = symbol
    owners_of_symbol = defaultdict(set)
    for entrez, symbol in official.items():
        owners_of_symbol[symbol].add(entrez)
    names = defaultdict(set)  # entrez id -> every name
    owners_of_name = defaultdict(set)  # name -> entrez ids of the genes it names
    for entrez, alias in db.execute(
        "SELECT g.gene_id, a.alias_symbol FROM genes g JOIN alias a USING (_id)"
    ):
        names[entrez].add(alias)
        owners_of_name[alias].add(entrez)
    (release,) = db.execute("SELECT value FROM metadata WHERE name = 'EGSOURCEDATE'").fetchone()
    listed = {symbol for symbol, _ in landmarks}
    candidates = []
    for symbol, entrez in landmarks:
        if entrez not in official:
            print(f"warning: landmark {symbol} ({entrez}) is not in the source", file=sys.stderr)
            continue
        current = official[entrez]
        for name in sorted(names[entrez] | {current}):
            if name == symbol:
                continue
            kind = "current" if name == current else "alias"
            others = (owners_of_symbol.get(name, set()) | owners_of_name[name]) - {entrez}
            if kind == "alias" and others:
                continue  # a name of another gene too
            if name in listed:
                continue  # another landmark's listed symbol
            candidates.append((symbol, entrez, name, kind))
    per_name = defaultdict(set)
    for symbol, _, name, _ in candidates:
        per_name[name].add(symbol)
    rows = [row for row in candidates if len(per_name[row[2]]) == 1]
    return rows, release


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sqlite", help="org.Hs.eg.sqlite of the org.Hs.eg.db package")
    parser.add_argument("-o", "--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    rows, release = build(args.sqlite)
    with open(args.output, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(f"# Entrez Gene {release}, via Bioconductor org.Hs.eg.db; ")
        handle.write("regenerate with tools/landmark_aliases.py\n")
        handle.write("symbol\tentrez_id\talias\tkind\n")
        for row in rows:
            handle.write("\t".join(row) + "\n")
    n_current = sum(row[3] == "current" for row in rows)
    print(f"wrote {len(rows)} names ({n_current} renamed landmarks) to {args.output}")


if __name__ == "__main__":
    main()
