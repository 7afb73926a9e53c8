"""FlexibleMLPRegressor: the flexible-MLP study's networks as a scikit-learn estimator."""

from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import Interval

from ._base import _BaseNetRegressor
from .nn import FlexibleMLP


class FlexibleMLPRegressor(_BaseNetRegressor):
    """Flexible MLP regressor."""

    _parameter_constraints: ClassVar[dict] = {
        **_BaseNetRegressor._parameter_constraints,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [str],
        "output_activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "layer_norm": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        output_activation="identity",
        dropout=0.0,
        batch_norm=False,
        layer_norm=False,
        *,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.01,
        momentum=0.9,
        lr_schedule=None,
        loss="mse",
        batch_size=64,
        max_epochs=50,
        early_stopping=False,
        validation_fraction=None,
        n_iter_no_change=10,
        tol=1e-4,
        n_target_splits=1,
        target_scaling=True,
        input_scaling=True,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            lr_schedule=lr_schedule,
            loss=loss,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            n_target_splits=n_target_splits,
            target_scaling=target_scaling,
            input_scaling=input_scaling,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.layer_norm = layer_norm

    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        return (int(sizes),) if isinstance(sizes, Integral) else tuple(int(s) for s in sizes)

    def _check_hyperparameters(self, n_in, n_out):
        sizes = self.hidden_layer_sizes
        if not isinstance(sizes, Integral) and any(
            not isinstance(size, Integral) or size < 1 for size in sizes
        ):
            raise ValueError(f"hidden_layer_sizes must hold positive ints; got {sizes!r}.")
        if self.batch_norm and self.layer_norm:
            raise ValueError("batch_norm and layer_norm are exclusive; set at most one to True.")

    def _module_class_and_kwargs(self, n_in, n_out):
        kwargs = {
            "hidden_layer_sizes": self._hidden_layer_sizes(),
            "activation": self.activation,
            "output_activation": self.output_activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "layer_norm": self.layer_norm,
        }
        return FlexibleMLP, kwargs

    def _count_neurons(self, n_in, n_out):
        return sum(self._hidden_layer_sizes()) + n_out
