"""The record of one benchmarked model, and the columns written for it."""

from dataclasses import dataclass, field

import numpy as np

# Columns of results.csv / results.json, in order, with the header of the Markdown table.
COLUMNS = {
    "model": "Model",
    "kind": "Kind",
    "mmae": "Test MMAE",
    "mmae_ci_low": "CI low",
    "mmae_ci_high": "CI high",
    "rmse": "Test RMSE",
    "val_mmae": "Val MMAE",
    "val_rmse": "Val RMSE",
    "n_parameters": "Parameters",
    "n_neurons": "Neurons",
    "fit_time_s": "Fit (s)",
    "predict_time_s": "Predict (s)",
    "train_samples_per_s": "Train samples/s",
    "epochs": "Epochs",
    "best_epoch": "Best epoch",
    "epochs_to_threshold": "Epochs to threshold",
    "genes_beating_linear": "Genes beating LR",
    "details": "Details",
}


@dataclass
class ModelResult:
    """Everything measured for one model; arrays stay in memory for the statistics."""

    model: str
    kind: str
    mmae: float
    rmse: float
    mmae_ci_low: float
    mmae_ci_high: float
    val_mmae: float
    val_rmse: float
    fit_time_s: float
    predict_time_s: float
    train_samples_per_s: float
    n_parameters: int | None = None
    n_neurons: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    epochs_to_threshold: int | None = None
    genes_beating_linear: float | None = None
    details: dict = field(default_factory=dict)
    history: list = field(default_factory=list, repr=False)
    per_sample_mae: np.ndarray | None = field(default=None, repr=False)
    per_gene_mae: np.ndarray | None = field(default=None, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_network(self):
        return self.kind in ("mlp", "dgex")

    def record(self):
        """The row of results.csv / results.json: plain Python scalars, None where n/a."""
        return {column: _plain(getattr(self, column)) for column in COLUMNS}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
