"""scikit-learn's estimator checks over both estimators: every check must pass."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

# Tiny networks keep the ~50 checks per estimator fast. The learning rate is
# raised because these tiny fits take only a few dozen optimizer steps, and
# check_regressors_train asks for R^2 > 0.5 on its data: the estimators must
# really learn, no "poor_score" tag is set.
ESTIMATORS = [
    DGEXRegressor(arch="cr", towers=2, width=16, max_epochs=20, lr=1e-2, device="cpu"),
    FlexibleMLPRegressor(hidden_layer_sizes=(16,), max_epochs=10, lr=1e-2, device="cpu"),
]

# No check is expected to fail.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est), {})
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
