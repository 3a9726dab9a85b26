import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from churnhealth.evaluation.horizons import intervals
from churnhealth.evaluation.metrics import (
    expected_calibration_error,
    grouped_auc,
    paired_comparison,
    too_small,
)
from churnhealth.evaluation.metrics import intervals as wi


def _data(n_accounts: int, rows_each: int, seed: int = 0):
    """Accounts with a latent risk; every account repeats its rows `rows_each` times."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n_accounts)
    y = (rng.random(n_accounts) < 1 / (1 + np.exp(2.5 - 1.5 * risk))).astype(float)
    good = 1 / (1 + np.exp(2.5 - 1.5 * risk))
    noisy = 1 / (1 + np.exp(2.5 - 1.5 * (risk + rng.normal(0, 1.5, n_accounts))))
    rep = lambda a: np.repeat(a, rows_each)  # noqa: E731
    return rep(np.arange(n_accounts)), rep(y), rep(good), rep(noisy)


def testgrouped_auc_equals_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(1)
    p = np.round(rng.random(500), 2)
    y = (rng.random(500) < p).astype(float)
    w = rng.integers(0, 4, 500).astype(float)
    ranks = np.unique(p, return_inverse=True)[1]
    assert grouped_auc(ranks, y, w) == pytest.approx(roc_auc_score(y, p, sample_weight=w))


def test_point_differences_are_the_plain_metrics():
    acc, y, good, noisy = _data(800, 1)
    d = paired_comparison(acc, y, good, noisy, n_boot=200)
    assert d["roc_auc_diff"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, noisy))
    assert d["log_loss_diff"] == pytest.approx(log_loss(y, good) - log_loss(y, noisy))
    assert d["roc_auc_diff_lo"] > 0 and d["log_loss_diff_hi"] < 0


def test_a_model_against_itself_differs_by_nothing():
    acc, y, good, _ = _data(300, 2)
    d = paired_comparison(acc, y, good, good, n_boot=100)
    assert {d[k] for k in d} == {0.0}


def test_intervals_resample_accounts_not_rows():
    """Five identical rows per account carry one account's information, not five."""
    acc, y, good, noisy = _data(600, 5)
    by_account = paired_comparison(acc, y, good, noisy, n_boot=400)
    as_if_rows = paired_comparison(np.arange(len(y)), y, good, noisy, n_boot=400)
    width = lambda d: d["roc_auc_diff_hi"] - d["roc_auc_diff_lo"]  # noqa: E731
    assert by_account["roc_auc_diff"] == pytest.approx(as_if_rows["roc_auc_diff"])
    assert width(by_account) > 1.8 * width(as_if_rows)


def test_no_churners_gives_no_comparison():
    d = paired_comparison(np.arange(10), np.zeros(10), np.full(10, 0.1), np.full(10, 0.2))
    assert all(np.isnan(v) for v in d.values())


def test_year_ahead_intervals_against_the_true_probabilities():
    """The true probabilities score a nonzero ECE on a finite sample; the oracle against
    itself has no excess and no gap; a model off by +0.08 everywhere is worse beyond noise."""
    acc, y, good, noisy = _data(1500, 4)
    same = intervals(acc, y, good, good, n_boot=100)
    assert same["ece_excess"] == same["ece_excess_lo"] == same["ece_excess_hi"] == 0.0
    assert same["auc_gap"] == same["auc_gap_lo"] == same["auc_gap_hi"] == 0.0
    assert same["oracle_ece"] > 0 and same["ece_lo"] <= same["oracle_ece"] <= same["ece_hi"]
    biased = intervals(acc, y, np.clip(good + 0.08, 0, 1), good, n_boot=100)
    assert biased["ece_excess_lo"] > 0.03
    worse = intervals(acc, y, noisy, good, n_boot=100)
    assert worse["auc_gap_lo"] > 0
    alone = intervals(acc, y, noisy, n_boot=100)
    assert set(alone) == {"ece_lo", "ece_hi"}


def test_year_ahead_intervals_resample_accounts_not_rows():
    acc, y, good, noisy = _data(600, 5)
    width = lambda d: d["auc_gap_hi"] - d["auc_gap_lo"]  # noqa: E731
    by_account = intervals(acc, y, noisy, good, n_boot=300)
    as_if_rows = intervals(np.arange(len(y)), y, noisy, good, n_boot=300)
    assert width(by_account) > 1.8 * width(as_if_rows)


def test_charts_with_no_known_outcome_say_so_instead_of_failing(tmp_path):
    # a backtest whose only origin is too recent for any 12-month outcome crashed while
    # saving its reliability chart (AttributeError), after the backtest itself had run
    import numpy as np

    from churnhealth.evaluation.plots import plot_reliability, plot_roc_pr

    empty = (np.array([]), np.array([]))
    assert plot_reliability({"all": empty, "smb": empty}, tmp_path / "r.png").stat().st_size
    one_kind = (np.zeros(5), np.linspace(0, 1, 5))
    assert plot_roc_pr({"model": one_kind}, tmp_path / "roc.png").stat().st_size


def test_window_intervals_cover_each_figure_and_widen_for_repeated_rows():
    """The test window's 95% intervals (ROC-AUC, ECE, recall, precision) hold the figure, and
    five identical rows per account carry one account's information, not five."""
    acc, y, good, _ = _data(800, 5)
    flagged = good > 0.2
    by_account = wi(acc, y, p=good, flagged=flagged, n_boot=300)
    as_if_rows = wi(np.arange(len(y)), y, p=good, flagged=flagged, n_boot=300)
    point = {
        "roc_auc": roc_auc_score(y, good),
        "ece": expected_calibration_error(y, good),
        "recall": flagged[y == 1].mean(),
        "precision": y[flagged].mean(),
    }
    for k, v in point.items():
        assert by_account[f"{k}_lo"] < v < by_account[f"{k}_hi"], k
        wide = by_account[f"{k}_hi"] - by_account[f"{k}_lo"]
        narrow = as_if_rows[f"{k}_hi"] - as_if_rows[f"{k}_lo"]
        assert wide > 1.6 * narrow, k


def test_window_intervals_reach_their_nominal_coverage():
    """Over 100 samples of 300 accounts from a known population, the recall and ROC-AUC
    intervals hold the population's value about 95% of the time."""
    rng = np.random.default_rng(7)
    _, pop_y, pop_p, _ = _data(200_000, 1, seed=99)
    truth_auc, truth_recall = roc_auc_score(pop_y, pop_p), (pop_p[pop_y == 1] > 0.2).mean()
    held = {"roc_auc": 0, "recall": 0}
    for _ in range(100):
        i = rng.choice(len(pop_y), 300, replace=False)
        iv = wi(np.arange(300), pop_y[i], p=pop_p[i], flagged=pop_p[i] > 0.2, n_boot=200)
        held["roc_auc"] += iv["roc_auc_lo"] <= truth_auc <= iv["roc_auc_hi"]
        held["recall"] += iv["recall_lo"] <= truth_recall <= iv["recall_hi"]
    assert 85 <= held["roc_auc"] <= 100 and 85 <= held["recall"] <= 100, held


def test_a_window_too_small_to_judge_counts_accounts_not_rows():
    accounts = np.repeat(np.arange(100), 3)
    y = np.repeat((np.arange(100) < 29).astype(float), 3)  # 29 churned accounts, 87 rows
    assert too_small(accounts, y) == "29 churned accounts (judging needs 30)"
    y30 = np.repeat((np.arange(100) < 30).astype(float), 3)
    assert too_small(accounts, y30) is None
    y_most = np.repeat((np.arange(100) < 75).astype(float), 3)
    assert too_small(accounts, y_most) == "25 accounts that stayed (judging needs 30)"


def test_ece_with_weights_is_the_ece_of_the_repeated_rows():
    """A resample's weights (how often each account was drawn) count a row that many times:
    the same figure as repeating the rows, so an interval is built around the printed ECE."""
    rng = np.random.default_rng(3)
    p = rng.random(157)
    y = (rng.random(157) < p).astype(float)
    w = rng.integers(0, 4, 157)
    idx = np.repeat(np.arange(157), w)
    assert expected_calibration_error(y, p, weight=w) == pytest.approx(
        expected_calibration_error(y[idx], p[idx])
    )
    # ten equal-count bins of a hundred rows: the textbook figure
    p = np.linspace(0.005, 0.995, 1000)
    y = (np.arange(1000) % 2).astype(float)
    bins = [abs(y[i : i + 100].mean() - p[i : i + 100].mean()) for i in range(0, 1000, 100)]
    assert expected_calibration_error(y, p) == pytest.approx(np.mean(bins))
