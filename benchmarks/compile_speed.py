"""Does ``compile=True`` train faster? Epoch times of both estimators, eager and compiled.

    python benchmarks/compile_speed.py              # small shape, one thread, about a minute
    python benchmarks/compile_speed.py --device cuda

Each network (D-GEX dense, D-GEX 5-tower checkerboard at the same budget, the
flexible MLP; 100 -> 128 x 128 -> 200, batch 64, 4,096 rows) is fitted for
``--epochs`` epochs with ``compile=False`` and ``compile=True``. The first
epoch (compilation) is printed apart; the speed-up is the ratio of the median
epoch times after the first three epochs.
"""

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WARM_EPOCHS = 3


def networks():
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

    return {
        "D-GEX dense": lambda **k: DGEXRegressor(
            arch="dense", towers=1, width=128, n_hidden_layers=2, dropout=0.25, **k
        ),
        "D-GEX checkerboard 5x54": lambda **k: DGEXRegressor(
            arch="c", towers=5, width=54, n_hidden_layers=2, dropout=0.25, **k
        ),
        "flexible MLP": lambda **k: FlexibleMLPRegressor(
            hidden_layer_sizes=(128, 128), dropout=0.0, weight_decay=0.0, **k
        ),
    }


def median_epoch_time(model):
    return statistics.median(row["epoch_time"] for row in model.history_[WARM_EPOCHS:])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/compile_speed.py", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.epochs <= WARM_EPOCHS:
        parser.error(f"--epochs must be above {WARM_EPOCHS}")
    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 100), dtype=np.float32)
    Y = np.tanh(X @ rng.standard_normal((100, 200), dtype=np.float32) / 10)
    settings = dict(
        optimizer="adam", lr=1e-3, lr_schedule=None, loss="mse", batch_size=64,
        max_epochs=args.epochs, device=args.device, random_state=0, early_stopping=False,
        validation_fraction=None, linear_shortcut=False, n_ensemble=1,
    )  # fmt: skip
    speedups = {}
    for name, make in networks().items():
        times = {}
        for compiled in (False, True):
            model = make(compile=compiled, **settings).fit(X, Y)
            times[compiled] = median_epoch_time(model)
            print(
                f"{name:<24} {'compiled' if compiled else 'eager':<8}  first epoch "
                f"{model.history_[0]['epoch_time']:6.2f} s, later epochs {times[compiled]:.3f} s",
                flush=True,
            )
        speedups[name] = times[False] / times[True]
        print(f"{name:<24} compile=True speed-up: {speedups[name]:.2f}x", flush=True)
    return speedups


if __name__ == "__main__":
    main()
