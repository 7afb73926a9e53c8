"""benchmarks/default_speed.py prints each default fit's time as ratios to RidgeCV's."""

import re


def test_ratios_to_ridge_are_printed_for_both_conditions(capsys):
    from benchmarks import default_speed

    worst = default_speed.main(["--samples", "40", "--landmarks", "20", "--targets", "10"])
    printed = capsys.readouterr().out
    assert "round 1, idle" in printed and "round 1, one core busy" in printed
    assert set(worst) == {"FlexibleMLPRegressor()", "DGEXRegressor()"}
    for name, ratio in worst.items():
        assert ratio > 0
        shown = re.search(rf"{re.escape(name)}: at most ([0-9.]+)x RidgeCV\(19 alphas\)", printed)
        assert shown and float(shown.group(1)) == round(ratio, 1)
