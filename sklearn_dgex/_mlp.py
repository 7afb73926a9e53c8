"""FlexibleMLPRegressor: the flexible-MLP study's networks as a scikit-learn estimator."""

from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import Interval

from ._base import _BaseNetRegressor, _shared_docs
from .nn import FlexibleMLP


@_shared_docs
class FlexibleMLPRegressor(_BaseNetRegressor):
    """Flexible multilayer perceptron regressor for expression inference.

    The configurable network of the flexible-MLP study
    (:class:`~sklearn_dgex.nn.FlexibleMLP`): any hidden layer sizes, hidden
    and output activations (ReLU, LeakyReLU with its slope, ELU with its
    alpha, GELU, tanh, sigmoid, SELU, TAAF), dropout, batch or layer
    normalisation, trained by skorch. The defaults are the study's best
    configuration: two hidden layers of 256 and 128 ReLU neurons trained by
    AdamW at 1e-3 with weight decay 0.01.

    Works on raw log2 expression: inputs and targets are standardised inside
    the estimator and predictions come back in the original units.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(256, 128)
        Neurons of each hidden layer; an int means one hidden layer.

    activation : str, default="relu"
        Activation of the hidden layers, e.g. "relu", "leaky_relu(0.1)",
        "elu(0.01)", "gelu", "tanh", "sigmoid", "selu", "taaf_sigmoid" (see
        :func:`~sklearn_dgex.nn.make_activation`).

    output_activation : str, default="identity"
        Activation of the output layer; the study's baseline used
        "elu(0.01)".

    dropout : float, default=0.0
        Dropout after each hidden activation.

    batch_norm : bool, default=False
        Batch normalisation between each hidden layer and its activation.

    layer_norm : bool, default=False
        Layer normalisation at the same place; exclusive with ``batch_norm``.

    <training parameters>

    Attributes
    ----------
    <fitted attributes>

    See Also
    --------
    DGEXRegressor : The D-GEX tower and checkerboard networks.
    sklearn_dgex.nn.FlexibleMLP : The torch module.
    sklearn.neural_network.MLPRegressor : scikit-learn's own MLP (float64, CPU).

    Notes
    -----
    The defaults were chosen by measurement on raw log2 expression from
    :func:`~sklearn_dgex.datasets.make_expression`; the user guide page
    "Estimators" lists the numbers.

    Examples
    --------
    >>> from sklearn_dgex import FlexibleMLPRegressor
    >>> from sklearn_dgex.datasets import make_expression
    >>> X, Y = make_expression(n_samples=200, n_landmarks=30, n_targets=40, random_state=0)
    >>> model = FlexibleMLPRegressor(max_epochs=5, random_state=0).fit(X, Y)
    >>> model.predict(X[:3]).shape
    (3, 40)
    >>> model.n_parameters_, model.n_neurons_
    (45992, 424)

    The study's baseline, a 4 x 256 LeakyReLU network with an ELU output,
    which cannot go below -0.01: its targets are scaled into [0, 1]
    (``target_scaling="minmax"``), so that it can express all of them:

    >>> baseline = FlexibleMLPRegressor(
    ...     hidden_layer_sizes=(256, 256, 256, 256), activation="leaky_relu(0.1)",
    ...     output_activation="elu(0.01)", optimizer="adam", lr=1e-4, weight_decay=0.0,
    ...     batch_size=27, target_scaling="minmax")
    """

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
        batch_size="auto",
        max_epochs="auto",
        early_stopping="auto",
        validation_fraction=None,
        n_iter_no_change=10,
        tol=1e-4,
        linear_shortcut="auto",
        n_ensemble="auto",
        n_target_splits=1,
        target_scaling=True,
        input_scaling=True,
        allow_nan_targets=False,
        on_nonfinite="raise",
        gradient_clip=None,
        checkpoint_dir=None,
        checkpoint_every=10,
        device="auto",
        n_threads="auto",
        precision="float32",
        compile=False,
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
            linear_shortcut=linear_shortcut,
            n_ensemble=n_ensemble,
            n_target_splits=n_target_splits,
            target_scaling=target_scaling,
            input_scaling=input_scaling,
            allow_nan_targets=allow_nan_targets,
            on_nonfinite=on_nonfinite,
            gradient_clip=gradient_clip,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            device=device,
            n_threads=n_threads,
            precision=precision,
            compile=compile,
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

    def _module_class_and_kwargs(self, n_in, n_out, settings=None):
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
