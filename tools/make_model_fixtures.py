"""Write small model files of the current format into ``tests/data``, for the compatibility test.

``tests/persistence/test_model_files.py`` loads every ``*.dgex`` file there and checks
that it predicts what it predicted when it was written. The files of a format
version are written once, by the code of that version, and committed; later
versions of sklearn-dgex must go on loading them. So run this only when the
format version changes, to add the files of the new version::

    python tools/make_model_fixtures.py            # writes tests/data/*_format<N>.*

It refuses to overwrite files of the current version (``--force`` does).

Each model is fitted with fixed seeds on one CPU thread, at sizes that keep
each file below a few tens of kilobytes:

- a :class:`~sklearn_dgex.DGEXRegressor` on small data, where
  ``linear_shortcut="auto"`` is the shortcut: three ensemble members, each a
  ``DGEXNet`` inside a ``LinearShortcut`` with a whitening input basis;
- a :class:`~sklearn_dgex.FlexibleMLPRegressor` on more rows than the
  shortcut takes (the linear fallback), with two members of two networks
  each (``n_target_splits=2``).

Beside each ``NAME.dgex`` goes ``NAME.npz`` (no pickled objects): the inputs
(``X``, ``sample_ids``, ``feature_names``), the ``target_names``, the
predictions of the fitted model (``predictions``) and, as JSON text
(``attributes``), fitted attributes that must survive loading.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "data"
#: Fitted attributes recorded in the ``.npz`` (those a model has), compared after loading.
ATTRIBUTES = (
    "n_features_in_",
    "n_outputs_",
    "linear_path_",
    "linear_shortcut_",
    "linear_inputs_",
    "shortcut_alpha_",
    "early_stopping_",
    "max_epochs_",
    "batch_size_",
    "n_ensemble_",
    "n_threads_",
    "device_",
    "n_iter_",
    "best_epoch_",
    "n_parameters_",
    "n_neurons_",
    "width_",
    "n_samples_fit_",
    "history_",
)


def _models():
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor
    from sklearn_dgex.datasets import make_expression

    common = dict(device="cpu", n_threads=1, random_state=0)
    # 40 rows of 24 landmarks: small data, where "auto" is the linear shortcut.
    small = make_expression(
        n_samples=40, n_landmarks=24, n_targets=10, random_state=0, as_frame=True
    )
    dgex = DGEXRegressor(towers=2, width=8, max_epochs=4, **common)
    # 60 rows of 8 landmarks: more rows than the shortcut takes, so the linear fallback.
    larger = make_expression(
        n_samples=60, n_landmarks=8, n_targets=6, random_state=1, as_frame=True
    )
    mlp = FlexibleMLPRegressor(
        hidden_layer_sizes=(8,), n_ensemble=2, n_target_splits=2, max_epochs=3, **common
    )
    return {
        "dgex_regressor": (dgex, _with_sample_ids(*small)),
        "flexible_mlp_regressor": (mlp, _with_sample_ids(*larger)),
    }


def _with_sample_ids(X, Y):
    ids = [f"sample-{i:03d}" for i in range(len(X))]
    return X.set_axis(ids, axis=0), Y.set_axis(ids, axis=0)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def fitted_attributes(model):
    """The fitted attributes of :data:`ATTRIBUTES` that ``model`` has, as JSON values."""
    return {name: _jsonable(getattr(model, name)) for name in ATTRIBUTES if hasattr(model, name)}


def write(output=OUTPUT, force=False):
    from sklearn_dgex import load
    from sklearn_dgex.persistence import FORMAT_VERSION

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (model, (X, Y)) in _models().items():
        stem = output / f"{name}_format{FORMAT_VERSION}"
        model_path, arrays_path = stem.with_suffix(".dgex"), stem.with_suffix(".npz")
        if not force and (model_path.exists() or arrays_path.exists()):
            raise SystemExit(f"{model_path} exists: the files of a format version stay as written.")
        model.fit(X, Y)
        predictions = model.predict(X)
        model.save(model_path)
        if not np.array_equal(load(model_path).predict(X), predictions):
            raise SystemExit(f"{model_path} does not predict as the model that wrote it.")
        np.savez_compressed(
            arrays_path,
            X=X.to_numpy(),
            sample_ids=X.index.to_numpy(dtype=str),
            feature_names=X.columns.to_numpy(dtype=str),
            target_names=Y.columns.to_numpy(dtype=str),
            predictions=predictions,
            attributes=np.array(json.dumps(fitted_attributes(model), sort_keys=True)),
        )
        written += [model_path, arrays_path]
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=OUTPUT, help="folder to write (default tests/data)")
    parser.add_argument("--force", action="store_true", help="overwrite files of this version")
    args = parser.parse_args(argv)
    for path in write(args.output, args.force):
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
