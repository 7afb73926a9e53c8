"""``python -m sklearn_dgex``: the ``sklearn-dgex`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
