"""Fit and evaluate one model of a preset: the baselines and the networks.

Protocol (the same for every model): fit on the training split; the
validation split chooses KNN's ``k`` and is monitored by the networks every
epoch (curves, best epoch, epochs to threshold), without early stopping, so
every network trains for the preset's full epoch budget and is evaluated with
its final weights; RidgeCV chooses alpha by leave-one-out on the training
split. Everything is scored on the test split, which no model sees before.
"""

import io
import re
import time
from contextlib import contextmanager, redirect_stdout
from functools import partial

import numpy as np

from benchmarks._results import ModelResult

# alphas tried by RidgeCV (efficient leave-one-out on the training split).
RIDGE_ALPHAS = np.logspace(-2, 5, 15)


def fit_and_evaluate(
    spec, params, data, *, n_boot, seed, threshold=None, epoch_bar=None, keep_predictions=False
):
    """Fit the model of ``spec`` (with resolved ``params``) on ``data``; return its ModelResult.

    ``threshold`` is the validation RMSE a network has to reach for "epochs to
    threshold"; ``epoch_bar`` an optional tqdm bar advanced once per epoch.
    Test predictions are kept on the result only with ``keep_predictions``
    (a paper-scale run would otherwise hold gigabytes of them).
    """
    fit = _FITTERS[spec.kind]
    fitted = fit(params, data, seed=seed, epoch_bar=epoch_bar)
    result = _evaluate(spec, fitted, data, n_boot=n_boot, seed=seed, threshold=threshold)
    if not keep_predictions:
        result.predictions = None
    return result


class _Fitted:
    """What a fitter hands to the evaluation: the model and what only the fitter knows."""

    def __init__(
        self,
        model,
        fit_time,
        *,
        epochs=1,
        history=(),
        details=None,
        n_parameters=None,
        n_neurons=None,
        samples_per_s=None,
        best_epoch=None,
    ):
        self.model = model
        self.fit_time = fit_time
        self.epochs = epochs
        self.history = list(history)
        self.details = dict(details or {})
        self.n_parameters = n_parameters
        self.n_neurons = n_neurons
        self.samples_per_s = samples_per_s
        self.best_epoch = best_epoch


def _timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def _linear_parameters(model):
    return int(np.size(model.coef_) + np.size(model.intercept_))


def _fit_linear(params, data, *, seed, epoch_bar=None):
    from sklearn.linear_model import LinearRegression

    model, seconds = _timed(lambda: LinearRegression(**params).fit(data.X_train, data.Y_train))
    return _Fitted(model, seconds, n_parameters=_linear_parameters(model))


def _fit_ridge(params, data, *, seed, epoch_bar=None):
    from sklearn.linear_model import RidgeCV

    params = {"alphas": RIDGE_ALPHAS, **params}
    # X and Y in float64: the leave-one-out formulas lose digits in float32 at large alpha.
    model, seconds = _timed(
        lambda: RidgeCV(**params).fit(
            data.X_train.astype(np.float64), data.Y_train.astype(np.float64)
        )
    )
    alpha = float(np.ravel(model.alpha_)[0]) if np.size(model.alpha_) == 1 else None
    return _Fitted(model, seconds, n_parameters=_linear_parameters(model), details={"alpha": alpha})


def select_knn_k(X_train, Y_train, X_val, Y_val, k_grid):
    """KNN-GE: the ``k`` of ``k_grid`` with the lowest validation MMAE, and all the scores.

    One neighbour search at the largest ``k``; the prediction for every smaller
    ``k`` is a running mean over the same sorted neighbours, so the whole grid
    costs about one prediction.
    """
    from sklearn.neighbors import NearestNeighbors

    from sklearn_dgex.metrics import mmae

    k_grid = sorted({int(k) for k in k_grid if 1 <= k <= len(X_train)})
    if not k_grid:
        raise ValueError(f"KNN k_grid has no k between 1 and {len(X_train)} training samples")
    neighbours = NearestNeighbors(n_neighbors=k_grid[-1]).fit(X_train)
    index = neighbours.kneighbors(X_val, return_distance=False)
    running_sum = np.zeros(Y_val.shape, dtype=np.float64)
    scores = {}
    for rank in range(k_grid[-1]):
        running_sum += Y_train[index[:, rank]]
        if rank + 1 in k_grid:
            scores[rank + 1] = float(mmae(Y_val, running_sum / (rank + 1)))
    return min(scores, key=scores.get), scores


def _fit_knn(params, data, *, seed, epoch_bar=None):
    from sklearn.neighbors import KNeighborsRegressor

    params = dict(params)
    k_grid = params.pop("k_grid")

    def fit():
        k, scores = select_knn_k(data.X_train, data.Y_train, data.X_val, data.Y_val, k_grid)
        return KNeighborsRegressor(n_neighbors=k, **params).fit(data.X_train, data.Y_train), (
            k,
            scores,
        )

    (model, (k, scores)), seconds = _timed(fit)
    return _Fitted(model, seconds, details={"k": k, "val_mmae_by_k": scores})


def _fit_network(kind, params, data, *, seed, epoch_bar=None):
    """Train a network on the training split, monitoring the validation split every epoch."""
    estimator = _network_class(kind)(**params, verbose=int(epoch_bar is not None))
    with _epoch_lines_to(epoch_bar):
        model, seconds = _timed(
            lambda: estimator.fit(data.X_train, data.Y_train, X_val=data.X_val, y_val=data.Y_val)
        )
    history = [dict(row) for row in model.history_]
    train_seconds = sum(row.get("train_time", 0.0) for row in history)
    # Pure training throughput: the validation pass and set-up are not counted.
    samples_per_s = len(history) * len(data.X_train) / train_seconds if train_seconds else None
    details = {
        key: params[key] for key in ("arch", "towers", "hidden_layer_sizes") if key in params
    }
    for attribute in ("width_", "param_budget_"):
        if hasattr(model, attribute):
            details[attribute.rstrip("_")] = getattr(model, attribute)
    batch_size = model.batch_size_  # "auto" resolved by the fit
    details["batch_size"] = batch_size
    if train_seconds:
        # Optimizer steps: every network of the target split runs its own batches.
        steps_per_epoch = model.n_target_splits * -(-len(data.X_train) // batch_size)
        details["iterations_per_s"] = len(history) * steps_per_epoch / train_seconds
    return _Fitted(
        model,
        seconds,
        epochs=len(history),
        history=history,
        details=details,
        n_parameters=int(model.n_parameters_),
        n_neurons=int(model.n_neurons_),
        samples_per_s=samples_per_s,
        best_epoch=model.best_epoch_,
    )


def _network_class(kind):
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

    return {"dgex": DGEXRegressor, "mlp": FlexibleMLPRegressor}[kind]


class _EpochLineReader(io.TextIOBase):
    """Turns the estimator's per-epoch ``verbose`` lines into tqdm updates.

    The estimators print one line per epoch ("[net i/n  ]epoch k/N  ... valid_rmse x ...")
    and have no callback argument, so the bar follows their output.
    """

    _VALID_RMSE = re.compile(r"valid_rmse (\S+)")

    def __init__(self, bar):
        self.bar = bar
        self._pending = ""

    def writable(self):
        return True

    def write(self, text):
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if " epoch " in f" {line}":
                self.bar.update(1)
                match = self._VALID_RMSE.search(line)
                if match:
                    self.bar.set_postfix_str(f"val RMSE {match.group(1)}", refresh=False)
        return len(text)


@contextmanager
def _epoch_lines_to(bar):
    if bar is None:
        yield
        return
    with redirect_stdout(_EpochLineReader(bar)):
        yield


def ridge_reference_rmse(data):
    """Validation RMSE of RidgeCV: the error threshold's reference when no baseline ran."""
    from sklearn_dgex.metrics import rmse

    fitted = _fit_ridge({}, data, seed=None)
    return float(rmse(data.Y_val, _predict(fitted.model, data.X_val)))


_FITTERS = {
    "linear": _fit_linear,
    "ridge": _fit_ridge,
    "knn": _fit_knn,
    "mlp": partial(_fit_network, "mlp"),
    "dgex": partial(_fit_network, "dgex"),
}


def _evaluate(spec, fitted, data, *, n_boot, seed, threshold):
    from sklearn_dgex.metrics import epochs_to_threshold, per_gene_mae, per_sample_mae, rmse
    from sklearn_dgex.stats import bootstrap_ci

    predictions, predict_time = _timed(lambda: _predict(fitted.model, data.X_test))
    val_predictions = _predict(fitted.model, data.X_val)
    sample_errors = per_sample_mae(data.Y_test, predictions)
    ci_low, ci_high = bootstrap_ci(sample_errors, n_boot=n_boot, random_state=seed)
    curve = [row.get("valid_rmse") for row in fitted.history]
    reached = None
    if fitted.history and threshold is not None:
        reached = epochs_to_threshold(
            [np.nan if value is None else value for value in curve], threshold
        )
    samples_per_s = fitted.samples_per_s
    if samples_per_s is None:
        samples_per_s = fitted.epochs * len(data.X_train) / max(fitted.fit_time, 1e-12)
    return ModelResult(
        model=spec.name,
        kind=spec.kind,
        mmae=float(np.mean(sample_errors)),
        rmse=float(rmse(data.Y_test, predictions)),
        mmae_ci_low=float(ci_low),
        mmae_ci_high=float(ci_high),
        val_mmae=float(np.mean(per_sample_mae(data.Y_val, val_predictions))),
        val_rmse=float(rmse(data.Y_val, val_predictions)),
        fit_time_s=float(fitted.fit_time),
        predict_time_s=float(predict_time),
        train_samples_per_s=float(samples_per_s),
        n_parameters=fitted.n_parameters,
        n_neurons=fitted.n_neurons,
        epochs=fitted.epochs if spec.is_network else None,
        best_epoch=fitted.best_epoch,
        epochs_to_threshold=reached,
        details=fitted.details,
        history=fitted.history,
        per_sample_mae=np.asarray(sample_errors, dtype=np.float64),
        per_gene_mae=np.asarray(per_gene_mae(data.Y_test, predictions), dtype=np.float64),
        predictions=predictions,
    )


def _predict(model, X):
    return np.asarray(model.predict(X), dtype=np.float32)
