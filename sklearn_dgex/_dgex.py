"""DGEXRegressor: the D-GEX tower and checkerboard networks as a scikit-learn estimator."""

from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _BaseNetRegressor, _shared_docs
from .nn import DGEXNet, budget

# User-facing architecture name -> (DGEXNet arch, skip connection). The short
# names are the study's: T-, C-, TR- and CR-D-GEX.
_ARCHITECTURES = {
    "dense": ("dense", False),
    "dense-residual": ("dense", True),
    "t": ("tower", False),
    "tower": ("tower", False),
    "c": ("checkerboard", False),
    "checkerboard": ("checkerboard", False),
    "tr": ("tower", True),
    "tower-residual": ("tower", True),
    "cr": ("checkerboard", True),
    "checkerboard-residual": ("checkerboard", True),
}

#: Width per hidden layer of the dense network whose parameter count is the
#: default budget (``param_budget=None``) before ``fit`` has seen the data, and
#: the most it becomes then (see ``_fit.settings.DEFAULT_DENSE_WIDTH_BOUNDS``).
REDUCED_STUDY_WIDTH = 1000
#: The study's shape: 942 landmarks -> 4,759 targets per network, 3 hidden layers.
_STUDY_SHAPE = (942, 4759, 3)


@_shared_docs
class DGEXRegressor(_BaseNetRegressor):
    """D-GEX regressor: dense, tower and checkerboard networks for expression inference.

    Predicts target genes from landmark genes with the D-GEX networks of the
    tower study: ``n_hidden_layers`` hidden layers of ``towers`` towers of
    ``width`` neurons with TAAF activations, the towers' outputs averaged
    before the output layer, trained by skorch
    (:class:`~sklearn_dgex.nn.DGEXNet` is the torch module). Towers hold
    more neurons for the same number of weights; the checkerboard wiring lets
    neighbouring towers exchange information. The default,
    ``DGEXRegressor(arch="cr", towers=5)``, is the study's best model
    (CR-D-GEX with five towers) at a parameter budget sized for a CPU;
    ``param_budget="study"`` gives the study's 257M-parameter networks.

    Works on raw log2 expression: inputs and targets are standardised inside
    the estimator and predictions come back in the original units.

    Parameters
    ----------
    arch : str, default="cr"
        Hidden-layer wiring: "dense" (D-GEX), "t" or "tower" (T-D-GEX), "c"
        or "checkerboard" (C-D-GEX), "tr" or "tower-residual" (TR-D-GEX),
        "cr" or "checkerboard-residual" (CR-D-GEX), "dense-residual". The
        residual variants add hidden layer 1 to hidden layer 2 (skip
        connection). The dense variants have one tower and ignore
        ``towers``.

    towers : int, default=5
        Number of towers.

    width : int or None, default=None
        Neurons per tower in each hidden layer. None: the widest that fits
        ``param_budget``. Give either ``width`` or ``param_budget``.

    param_budget : int, "study" or None, default=None
        Most parameters of each network, used when ``width`` is None:

        - None: those of the dense network with one neuron per hidden layer
          for every two rows ``fit`` gets (at least 128, at most 1,000) for the
          data's numbers of inputs and targets, a CPU-sized "reduced study" in
          which more towers trade width for neurons at equal weights, as in
          the study; wider layers than profiles add weights the data cannot
          determine;
        - "study": those of the study's dense network of 10,000 neurons; at
          the study's shape (942 landmarks, 4,759 targets per network, three
          hidden layers) exactly the widths of its Table 1
          (:data:`sklearn_dgex.nn.STUDY_WIDTHS`);
        - an int: that many.

    n_hidden_layers : int, default=3
        Number of hidden layers.

    activation : str, default="taaf_sigmoid"
        Activation of the hidden neurons (see
        :func:`~sklearn_dgex.nn.make_activation`): the study's TAAF over a
        sigmoid; "tanh" for the original D-GEX.

    output_activation : str, default="identity"
        Activation of the output neurons. The study used "taaf_sigmoid" (its
        TAAFo); on standardised targets a linear output trains far better
        (measured in the user guide), hence the default.

    dropout : float, default=0.25
        Dropout after each hidden layer (the checkerboard's first hidden
        layer has none), as in the study.

    <training parameters>

    Attributes
    ----------
    width_ : int
        Neurons per tower in each hidden layer of the first network.

    <fitted attributes>

    See Also
    --------
    FlexibleMLPRegressor : The flexible multilayer perceptron.
    sklearn_dgex.nn.DGEXNet : The torch module, with the wiring diagram.
    sklearn_dgex.nn.budget.solve_width : Width from a parameter budget.

    Notes
    -----
    The defaults were chosen by measurement on raw log2 expression from
    :func:`~sklearn_dgex.datasets.make_expression`; the user guide page
    "Estimators" lists the numbers. They suit a few hundred to a few thousand
    profiles on a CPU; ``lr=5e-3`` is ten times the study's rate because small
    data give few optimizer steps per epoch. To reproduce the study, on a
    GPU: ``param_budget="study"``, ``n_target_splits=2``,
    ``output_activation="taaf_sigmoid"``, ``lr=5e-4``, ``max_epochs=600``,
    ``loss="mse"`` and ``linear_shortcut=False`` (the default
    ``optimizer="nadam"`` and ``lr_schedule="dgex"`` are the study's). The
    default ``loss="mae"`` fits the median that the study's MMAE rewards;
    on single-cell data (mostly zeros) it scored 17% below the squared
    error's MMAE (user guide, "Real data").

    Examples
    --------
    >>> from sklearn_dgex import DGEXRegressor
    >>> from sklearn_dgex.datasets import make_expression
    >>> X, Y = make_expression(n_samples=200, n_landmarks=30, n_targets=40, random_state=0)
    >>> model = DGEXRegressor(arch="cr", towers=5, max_epochs=5, random_state=0).fit(X, Y)
    >>> model.predict(X[:3]).shape
    (3, 40)
    >>> model.width_, model.n_neurons_
    (54, 850)
    >>> len(model.history_), sorted(model.history_[-1])[:3]
    (5, ['epoch', 'epoch_time', 'lr'])
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseNetRegressor._parameter_constraints,
        "arch": [StrOptions(set(_ARCHITECTURES))],
        "towers": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "param_budget": [Interval(Integral, 1, None, closed="left"), StrOptions({"study"}), None],
        "n_hidden_layers": [Interval(Integral, 1, None, closed="left")],
        "activation": [str],
        "output_activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        arch="cr",
        towers=5,
        width=None,
        param_budget=None,
        n_hidden_layers=3,
        activation="taaf_sigmoid",
        output_activation="identity",
        dropout=0.25,
        *,
        optimizer="nadam",
        lr=5e-3,
        weight_decay=0.0,
        momentum=0.9,
        lr_schedule="dgex",
        loss="mae",
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
        self.arch = arch
        self.towers = towers
        self.width = width
        self.param_budget = param_budget
        self.n_hidden_layers = n_hidden_layers
        self.activation = activation
        self.output_activation = output_activation
        self.dropout = dropout

    # ------------------------------------------------------------------
    # Architecture
    # ------------------------------------------------------------------
    def _nn_arch(self):
        """``(DGEXNet arch, skip, towers)``; a dense network has one tower."""
        arch, skip = _ARCHITECTURES[self.arch]
        return arch, skip, 1 if arch == "dense" else self.towers

    def _activations(self):
        return {
            "n_hidden_layers": self.n_hidden_layers,
            "activation": self.activation,
            "output_activation": self.output_activation,
        }

    def _check_hyperparameters(self, n_in, n_out):
        if self.width is not None and self.param_budget is not None:
            raise ValueError(
                f"Give either width or param_budget, not both; got width={self.width} and "
                f"param_budget={self.param_budget!r}."
            )

    def _budget(self, n_in, n_out, settings=None):
        if isinstance(self.param_budget, Integral):
            return int(self.param_budget)
        if self.param_budget == "study":
            dense_width = budget.STUDY_WIDTHS[1]
        else:  # from the number of rows, once fit knows them (see _fit.settings)
            if settings is None:  # the fitted settings, if any
                settings = getattr(self, "_settings", None)
            dense_width = getattr(settings, "dense_width", None) or REDUCED_STUDY_WIDTH
        return budget.dense_budget(n_in, n_out, dense_width, **self._activations())

    def _resolve_width(self, n_in, n_out, settings=None):
        """Neurons per tower per hidden layer of a network with ``n_out`` outputs."""
        if self.width is not None:
            return self.width
        arch, _, towers = self._nn_arch()
        is_study_shape = (n_in, n_out, self.n_hidden_layers) == _STUDY_SHAPE
        if self.param_budget == "study" and is_study_shape and towers in budget.STUDY_WIDTHS:
            # The study's own widths (Table 1), which its solver rule chose.
            return budget.STUDY_WIDTHS[towers]
        return budget.solve_width(
            n_in,
            n_out,
            towers=towers,
            param_budget=self._budget(n_in, n_out, settings),
            arch=arch,
            **self._activations(),
        )

    def _network_parameter(self, module_argument):
        if module_argument == "width":
            return "width" if self.width is not None else "param_budget"
        return {"skip": "arch", "towers": "towers"}.get(module_argument, module_argument)

    def _module_class_and_kwargs(self, n_in, n_out, settings=None):
        arch, skip, towers = self._nn_arch()
        kwargs = {
            "arch": arch,
            "skip": skip,
            "towers": towers,
            "width": self._resolve_width(n_in, n_out, settings),
            "dropout": self.dropout,
            **self._activations(),
        }
        return DGEXNet, kwargs

    def _count_neurons(self, n_in, n_out):
        _, _, towers = self._nn_arch()
        width = self._resolve_width(n_in, n_out)
        return budget.count_neurons(n_in, n_out, towers=towers, width=width, **self._activations())

    def _network_neurons(self, network):
        kwargs = network.module_kwargs
        return budget.count_neurons(
            network.n_in,
            network.n_out,
            towers=kwargs["towers"],
            width=kwargs["width"],
            **self._activations(),
        )

    def _set_fitted_state(self, members, plan, n_in, n_out, target_is_1d, n_train):
        super()._set_fitted_state(members, plan, n_in, n_out, target_is_1d, n_train)
        # Width of the first network (the widest group of targets when they split unevenly).
        self.width_ = plan.networks[0].module_kwargs["width"]
