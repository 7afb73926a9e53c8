"""``run.py --dry-run``: what a preset would train, resolved, without training anything.

For every model of a preset: the architecture as the estimator resolves it
(widths from the weight budget, activations, dropout, networks per target
split), its parameter count from the networks themselves, built on torch's
``meta`` device (shapes only: no memory, no time), beside the count in
Table 1 of the D-GEX tower study where the network has the study's shape and
budget, then the optimizer, learning-rate schedule, epochs and batch size.
A paper-scale preset is described in seconds, so it can be checked against
the studies before hours of GPU time are spent.
"""

from dataclasses import dataclass

from benchmarks.presets import STUDY_TABLE_1_PARAMETERS

# The study's shape of one network: 942 landmarks -> 4,759 targets, three hidden layers.
_TABLE_1_SHAPE = (942, 4759, 3)


@dataclass
class ModelDescription:
    """One model of a preset as it would be trained."""

    name: str
    kind: str
    architecture: str
    n_parameters: int | None = None
    parameters_per_network: tuple = ()
    table_1: int | None = None
    optimizer: str = "—"
    schedule: str = "—"
    epochs: int | str | None = None
    batch_size: int | str | None = None

    @property
    def matches_table_1(self):
        """True or False where Table 1 applies, else None."""
        if self.table_1 is None:
            return None
        return all(count == self.table_1 for count in self.parameters_per_network)


def describe_model(spec, params, n_landmarks, n_targets):
    """The :class:`ModelDescription` of ``spec`` with its resolved ``params``."""
    if not spec.is_network:
        return _describe_baseline(spec, params)
    estimator = _estimator(spec.kind, params)
    modules = _networks_on_meta(estimator, n_landmarks, n_targets)
    counts = tuple(sum(p.numel() for p in module.parameters()) for module in modules)
    return ModelDescription(
        name=spec.name,
        kind=spec.kind,
        architecture=_architecture(estimator, modules),
        n_parameters=sum(counts),
        parameters_per_network=counts,
        table_1=_table_1_count(estimator, modules, n_landmarks),
        optimizer=_optimizer(estimator),
        schedule=_schedule(estimator.lr_schedule, estimator.lr, estimator.max_epochs),
        epochs=estimator.max_epochs,
        batch_size=estimator.batch_size,
    )


def _describe_baseline(spec, params):
    if spec.kind == "knn":
        text = f"k chosen on the validation split among {tuple(params['k_grid'])}"
    elif spec.kind == "ridge":
        text = "alpha chosen by leave-one-out on the training split"
    else:
        text = "ordinary least squares"
    return ModelDescription(name=spec.name, kind=spec.kind, architecture=text)


def _estimator(kind, params):
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

    estimator = {"dgex": DGEXRegressor, "mlp": FlexibleMLPRegressor}[kind](**params)
    estimator._validate_params()
    return estimator


def _networks_on_meta(estimator, n_in, n_targets):
    """The estimator's networks (one per target split), built on the meta device."""
    import torch

    from sklearn_dgex._base import _split_sizes

    estimator._check_hyperparameters(n_in, n_targets)
    modules = []
    for n_out in _split_sizes(n_targets, estimator.n_target_splits):
        module_class, kwargs = estimator._module_class_and_kwargs(n_in, n_out)
        with torch.device("meta"):
            modules.append(module_class(n_in=n_in, n_out=n_out, **kwargs))
    return modules


def _architecture(estimator, modules):
    outputs = " + ".join(f"{module.n_out:,}" for module in modules)
    networks = f"{len(modules)} networks of {outputs} outputs" if len(modules) > 1 else ""
    if hasattr(estimator, "arch"):  # D-GEX
        module = modules[0]
        arch = estimator.arch.upper() if estimator.arch != "dense" else "dense"
        shape = (
            f"{arch}: {module.towers} x {module.width:,} neurons x {module.n_hidden_layers} layers"
            if estimator.arch != "dense"
            else f"dense: {module.n_hidden_layers} x {module.width:,} neurons"
        )
        parts = [shape]
    else:
        parts = [f"MLP {list(estimator.hidden_layer_sizes)}"]
        if estimator.batch_norm:
            parts.append("batch norm")
        if getattr(estimator, "layer_norm", False):
            parts.append("layer norm")
    parts.append(f"{estimator.activation} -> {estimator.output_activation}")
    if estimator.dropout:
        parts.append(f"dropout {estimator.dropout:g}")
    if estimator.target_scaling is not True:
        parts.append(f"target_scaling={estimator.target_scaling!r}")
    if networks:
        parts.append(networks)
    return "; ".join(parts)


def _table_1_count(estimator, modules, n_in):
    """Table 1's parameters per network where the networks are the study's, else None."""
    if getattr(estimator, "param_budget", None) != "study" or estimator.arch == "dense":
        return None
    for module in modules:
        if (n_in, module.n_out, module.n_hidden_layers) != _TABLE_1_SHAPE:
            return None
    return STUDY_TABLE_1_PARAMETERS.get(modules[0].towers)


def _optimizer(estimator):
    text = f"{estimator.optimizer} lr {estimator.lr:g}"
    if estimator.weight_decay:
        text += f", weight decay {estimator.weight_decay:g}"
    if estimator.optimizer in ("sgd", "rmsprop") and estimator.momentum:
        text += f", momentum {estimator.momentum:g}"
    return text


def _schedule(schedule, lr, epochs):
    if schedule is None:
        return "constant"
    if schedule != "dgex" or not isinstance(epochs, int):
        return schedule
    from sklearn_dgex._torch.net import StepMultiplier

    steps = StepMultiplier(epochs)
    bounds = [*steps.starts[1:], epochs]
    stages = [
        f"{lr * factor:.3g} ({start + 1}-{end})"
        for start, end, factor in zip(steps.starts, bounds, steps.factors)
        if start < end
    ]
    return "stepped: " + ", ".join(stages)


def _number(value):
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _parameters_cell(description):
    counts = description.parameters_per_network
    if not counts:
        return "—"
    if len(set(counts)) == 1 and len(counts) > 1:
        return f"{len(counts)} x {counts[0]:,}"
    return " + ".join(f"{count:,}" for count in counts)


def _table_1_cell(description):
    match = description.matches_table_1
    if match is None:
        return "—"
    return f"{description.table_1:,} ({'equal' if match else 'DIFFERS'})"


COLUMNS = (
    ("Model", lambda d: d.name),
    ("Architecture", lambda d: d.architecture),
    ("Parameters", _parameters_cell),
    ("Table 1", _table_1_cell),
    ("Optimizer", lambda d: d.optimizer),
    ("Schedule", lambda d: d.schedule),
    ("Epochs", lambda d: _number(d.epochs)),
    ("Batch", lambda d: _number(d.batch_size)),
)


def describe_table(descriptions):
    """The descriptions as a Markdown table."""
    header = [name for name, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(d) for _, cell in COLUMNS) + " |" for d in descriptions]
    return "\n".join(lines)
