"""Every horizon judged with the outcomes the data has: censoring-aware, out of time, with
intervals, or "not judged" and why.

A row's follow-up runs from its as-of date to F = data end − re-signup gap (a churn counts once
that long has passed without a re-signup). A test row whose follow-up ends before the horizon
τ is neither a churner nor a stayer at τ: dropping it (complete cases) keeps early churners and
loses late ones, and the figures drift. Instead each churner within τ is weighted by 1/G(T−),
each account still there at τ by 1/G(τ), where G is the Kaplan–Meier curve of the follow-up
ends (inverse probability of censoring weights; Uno et al. 2007, Graf et al. 1999):

- time-dependent ROC-AUC at τ: churners by τ against accounts still there at τ;
- Brier score at τ, with the no-skill reference of predicting everyone the base rate.

These are scikit-survival's `cumulative_dynamic_auc` and `brier_score`, written here in a few
lines because that package is GPL-3 (churnhealth is MIT), pins scikit-learn to one minor
version, and takes no sample weights, which the account resampling needs
(tests/unit/test_judged.py checks them against complete follow-up and a simulation).

Intervals resample accounts (an account's monthly rows share one future), refitting G in each
draw; the model's advantage over the best baseline is paired on the same draws. A horizon with
too little evidence is "not judged", with the reason: no row followed past it, fewer than
`MIN_EVENTS` churns or `MIN_CONTROLS` accounts still there, or censoring so heavy that the
weights would dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.evaluation.metrics import MIN_CHURNED, MIN_RETAINED, N_BOOT, grouped_auc
from churnhealth.models import hazard
from churnhealth.models.baselines import baseline_risks
from churnhealth.models.fitter import TrainingData
from churnhealth.models.routed import HealthModel

HORIZONS = {"3 months": 90, "6 months": 182, "9 months": 273, "12 months": 365}
"""The horizons judged (days); 12 months is the health horizon."""
MIN_EVENTS = MIN_CHURNED
"""Distinct churns (account and date) within a horizon needed to judge it."""
MIN_CONTROLS = MIN_RETAINED
"""Distinct accounts followed past a horizon without churning needed to judge it."""
MIN_REACH = 0.10
"""Smallest share of follow-up reaching the horizon (G(τ)); below it a few rows' weights
would carry the figure."""


@dataclass(frozen=True)
class Followed:
    """Test rows with their follow-up: `time` in days from the as-of date to the churn or to
    the end of follow-up, `event` whether it was a churn; `churn` names the churn (account and
    date) so that one churn seen from several as-of dates counts once as evidence."""

    accounts: np.ndarray
    time: np.ndarray
    event: np.ndarray
    churn: np.ndarray

    @cached_property
    def times(self) -> np.ndarray:
        """The distinct follow-up times, sorted."""
        return np.unique(self.time)

    @cached_property
    def at(self) -> np.ndarray:
        """Each row's position in `times`."""
        return np.searchsorted(self.times, self.time)

    @classmethod
    def of(cls, frame: pd.DataFrame, follow_up_end: pd.Timestamp) -> tuple[Followed, np.ndarray]:
        """The rows of `frame` (account_id, as_of, churn_after) whose as-of date is before the
        end of follow-up, and the mask selecting them."""
        keep = (frame.as_of < follow_up_end).to_numpy()
        f = frame[keep]
        after = f.churn_after
        event = (after.notna() & (after > f.as_of) & (after <= follow_up_end)).to_numpy()
        end = after.where(event, follow_up_end)
        time = (end - f.as_of).dt.days.to_numpy(float)
        churn = np.where(event, f.account_id.astype(str) + "@" + after.astype(str), "")
        return cls(f.account_id.to_numpy(), time, event, churn), keep


def censoring_curve(f: Followed, w: np.ndarray) -> np.ndarray:
    """Kaplan–Meier curve of the follow-up ends, weighted by `w`: G just after each of the
    distinct times `f.times`. A churn on the day a follow-up ends leaves the risk set first."""
    k = len(f.times)
    ends = np.bincount(f.at, w * ~f.event, k)
    churns = np.bincount(f.at, w * f.event, k)
    at_risk = np.cumsum(np.bincount(f.at, w, k)[::-1])[::-1] - churns
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(at_risk > 0, ends / at_risk, 0.0)
    return np.cumprod(1 - drop)


def _g_at(f: Followed, g: np.ndarray, tau: float) -> float:
    """G(τ) from `censoring_curve`."""
    k = int(np.searchsorted(f.times, tau, side="right"))
    return float(g[k - 1]) if k > 0 else 1.0


def weights(f: Followed, tau: float, w: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(case, control) weight per row at τ: churners by τ get w/G(T−), rows followed past τ
    w/G(τ), rows whose follow-up ended before τ without a churn 0."""
    case = f.event & (f.time <= tau)
    control = f.time > tau
    before = np.where(f.at > 0, g[np.maximum(f.at - 1, 0)], 1.0)  # G(T−)
    with np.errstate(divide="ignore", invalid="ignore"):
        wc = np.where(case, w / before, 0.0)
        wn = np.where(control, w / _g_at(f, g, tau), 0.0)
    return np.nan_to_num(wc), np.nan_to_num(wn)


def auc_at(ranks: np.ndarray, case_w: np.ndarray, control_w: np.ndarray) -> float:
    """Time-dependent ROC-AUC from the risk's `ranks` (0..k-1, ties share one): each
    churner-by-τ and still-there-at-τ pair, weighted. (Controls all carry the same 1/G(τ),
    which cancels: scikit-survival leaves it out.)"""
    return grouped_auc(ranks, (case_w > 0).astype(float), case_w + control_w)


def brier_at(p: np.ndarray, case_w: np.ndarray, control_w: np.ndarray, w: np.ndarray) -> float:
    """Brier score at τ of the churn probabilities `p`, averaged over every row (`w`)."""
    return float(((case_w * (1 - p) ** 2) + control_w * p**2).sum() / w.sum())


def base_rate(case_w: np.ndarray, control_w: np.ndarray) -> float:
    """Share churned by τ, estimated with the censoring weights."""
    return float(case_w.sum() / (case_w.sum() + control_w.sum()))


def judge(
    f: Followed,
    model: dict[int, np.ndarray],
    baselines: dict[str, np.ndarray],
    *,
    horizons: dict[str, int] = HORIZONS,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, dict]:
    """Each horizon of `horizons` judged on the followed rows `f`: the model's churn
    probability by τ (`model[τ]`) and the baselines' risks (higher = riskier, one score at every
    τ), with 95% intervals from `n_boot` account resamples. A horizon without the evidence to
    judge it gets `status` "not judged" and its `reason`."""
    w1 = np.ones(len(f.time))
    curve = censoring_curve(f, w1)
    rank = {tau: np.unique(p, return_inverse=True)[1] for tau, p in model.items()}
    base_rank = {
        name: np.unique(np.nan_to_num(r, nan=-np.inf), return_inverse=True)[1]  # unknown: lowest
        for name, r in baselines.items()
    }
    out: dict[str, dict] = {}
    for label, tau in horizons.items():
        cw, nw = weights(f, tau, w1, curve)
        case = cw > 0
        row = {
            "days": tau,
            "rows": len(f.time),
            "accounts": len(pd.unique(f.accounts)),
            "events": len(pd.unique(f.churn[case])),
            "controls": len(pd.unique(f.accounts[nw > 0])),
            "reach": _g_at(f, curve, tau),
            "longest_follow_up_days": int(f.time.max()) if len(f.time) else 0,
        }
        reason = _too_little(label, tau, row)
        if reason:
            out[label] = {"status": "not judged", "reason": reason, **row}
            continue
        bases = {n: auc_at(r, cw, nw) for n, r in base_rank.items()}
        best = max(bases, key=bases.get) if bases else None
        rate = base_rate(cw, nw)
        out[label] = {
            "status": "judged",
            **row,
            "roc_auc": auc_at(rank[tau], cw, nw),
            "brier": brier_at(model[tau], cw, nw, w1),
            "brier_no_skill": brier_at(np.full(len(w1), rate), cw, nw, w1),
            "churn_rate": rate,
            "mean_probability": float((model[tau] * (cw + nw)).sum() / (cw + nw).sum()),
            "baselines": bases,
            "best_baseline": best,
        }
    judged = [lab for lab, r in out.items() if r["status"] == "judged"]
    if judged:
        _intervals(f, out, judged, model, rank, base_rank, horizons, n_boot, seed)
    return out


def _too_little(label: str, tau: int, r: dict) -> str | None:
    """Why horizon `label` (τ days) cannot be judged from the counts `r`, or None."""
    longest = r["longest_follow_up_days"]
    if longest <= tau:
        more = int(np.ceil((tau + 1 - longest) / 30.44))
        return (
            f"the longest follow-up is {longest} days; {label} needs rows followed beyond {tau} "
            f"days (about {more} more month{'s' if more != 1 else ''} of history)"
        )
    if r["events"] < MIN_EVENTS:
        return (
            f"{r['events']} churns within {label} among {r['accounts']:,} accounts; judging it "
            f"needs at least {MIN_EVENTS}"
        )
    if r["controls"] < MIN_CONTROLS:
        return (
            f"{r['controls']} accounts followed beyond {label} without churning; judging it "
            f"needs at least {MIN_CONTROLS}"
        )
    if r["reach"] < MIN_REACH:
        return (
            f"only {r['reach']:.0%} of the follow-up reaches {label}: the few rows that do would "
            f"carry the figure (need {MIN_REACH:.0%})"
        )
    return None


def _intervals(f, out, judged, model, rank, base_rank, horizons, n_boot, seed) -> None:
    """Add `_lo`/`_hi` to each judged horizon's ROC-AUC, Brier score and advantage over the
    best baseline (`vs_best_roc_auc_diff`, paired on the same draws), resampling accounts."""
    codes, uniq = pd.factorize(f.accounts)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[tuple[float, float, float]]] = {lab: [] for lab in judged}
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes]
        curve = censoring_curve(f, w.astype(float))
        for lab in judged:
            tau, best = horizons[lab], out[lab]["best_baseline"]
            cw, nw = weights(f, tau, w, curve)
            if cw.sum() == 0 or nw.sum() == 0:
                continue
            auc = auc_at(rank[tau], cw, nw)
            diff = auc - auc_at(base_rank[best], cw, nw) if best else np.nan
            draws[lab].append((auc, brier_at(model[tau], cw, nw, w), diff))
    for lab in judged:
        r, d = out[lab], np.array(draws[lab])
        if len(d) < 0.95 * n_boot:
            out[lab] = {
                **{k: v for k, v in r.items() if k in ("days", "rows", "accounts", "events")},
                "status": "not judged",
                "reason": f"{n_boot - len(d)} of {n_boot} account resamples had no churn or "
                "no account still there at the horizon: too few to judge it",
            }
            continue
        lo, hi = np.percentile(d if r["best_baseline"] else d[:, :2], [2.5, 97.5], axis=0)
        r["roc_auc_lo"], r["roc_auc_hi"] = float(lo[0]), float(hi[0])
        r["brier_lo"], r["brier_hi"] = float(lo[1]), float(hi[1])
        if r["best_baseline"]:
            r["vs_best_roc_auc_diff"] = r["roc_auc"] - r["baselines"][r["best_baseline"]]
            r["vs_best_roc_auc_diff_lo"], r["vs_best_roc_auc_diff_hi"] = float(lo[2]), float(hi[2])


def evaluate(cfg: Config, data: TrainingData, hm: HealthModel, *, n_boot: int = N_BOOT) -> dict:
    """Every horizon of `hm` judged on the as-of rows after its validation window (none of
    which it fitted, validated or calibrated on), followed until the data's end less the
    re-signup gap."""
    end = data.fs.data_end - pd.Timedelta(days=cfg.labels.resignup_gap_days)
    after = (data.frame.as_of > data.splits.t2).to_numpy()
    f, keep = Followed.of(data.frame[after], end)
    rows = np.flatnonzero(after)[keep]
    frame = data.frame.iloc[rows]
    out = {
        "from": str(data.splits.t2.date()),
        "follow_up_end": str(end.date()),
        "rows": len(rows),
    }
    if len(rows) == 0:
        reason = f"no as-of date after {data.splits.t2.date()} before the follow-up ends"
        return {**out, "horizons": {h: _none(d, reason) for h, d in HORIZONS.items()}}
    mask = np.zeros(len(data.frame), bool)
    mask[rows] = True
    risks, _ = baseline_risks(data, mask)
    curve = hm.curve(frame)
    model = {d: hazard.within_days(frame, curve, d) for d in HORIZONS.values()}
    verdicts = judge(f, model, risks, n_boot=n_boot, seed=cfg.train.seed)
    return {**out, "horizons": verdicts}


def _none(days: int, reason: str) -> dict:
    return {"days": days, "status": "not judged", "reason": reason}


def combine(own: dict, year_ahead: dict | None) -> dict[str, dict]:
    """Per horizon, the registered model's own verdict where it was judged, else the
    year-ahead evaluation model's or, on a shorter history, the earlier-origin model's
    (`horizons.earlier_origin`). `by` says which: an earlier model measures the procedure that
    produced the registered model, on an origin whose outcomes have had time to happen."""
    out = {}
    for label, mine in own["horizons"].items():
        other = (year_ahead or {}).get("horizons", {}).get(label)
        if mine["status"] == "judged" or other is None or other["status"] != "judged":
            out[label] = {**mine, "by": "test window", "from": own["from"]}
            if mine["status"] == "judged":
                continue
            by = (year_ahead or {}).get("by", "year-ahead model")
            why = (year_ahead or {}).get("skipped", {}).get(label) or (
                f"the {by} after {year_ahead['from']}: {other['reason']}" if other else None
            )
            if why:
                out[label]["reason"] = f"{mine['reason']}; {why}"
        else:
            by = year_ahead.get("by", "year-ahead model")
            out[label] = {**other, "by": by, "from": year_ahead["from"]}
    return out


def flat(verdicts: dict[str, dict]) -> dict[str, float]:
    """MLflow metrics: `judged_3m` (1 or 0) and, where judged, `judged_3m_roc_auc`, `_lo`,
    `_hi`, `judged_3m_brier` … per horizon."""
    out: dict[str, float] = {}
    for label, r in verdicts.items():
        key = label.replace(" months", "m")  # "12 months" → 12m
        out[f"judged_{key}"] = float(r["status"] == "judged")
        for k in ("roc_auc", "roc_auc_lo", "roc_auc_hi", "brier", "brier_lo", "brier_hi"):
            if k in r:
                out[f"judged_{key}_{k}"] = r[k]
    return out


def table(verdicts: dict[str, dict]) -> pd.DataFrame:
    """One row of text per horizon, for the train command and the report: what judged it, the
    ROC-AUC with its 95% interval, the best baseline, the Brier score against no skill, the
    evidence; or "not judged" and why (the other cells empty)."""
    columns = ["horizon", "judged on", "ROC-AUC (95%)", "best baseline", "Brier (no skill)"]
    columns += ["churns", "accounts"]
    rows = []
    for label, r in verdicts.items():
        row = {**dict.fromkeys(columns, ""), "horizon": label}
        if r["status"] != "judged":
            rows.append({**row, "judged on": "not judged", "ROC-AUC (95%)": r["reason"]})
            continue
        best = r.get("best_baseline")
        rows.append(
            {
                **row,
                "judged on": f"{r['by']} after {r['from']}",
                "ROC-AUC (95%)": f"{r['roc_auc']:.3f} [{r['roc_auc_lo']:.3f}, "
                f"{r['roc_auc_hi']:.3f}]",
                "best baseline": f"{best} {r['baselines'][best]:.3f}" if best else "none",
                "Brier (no skill)": f"{r['brier']:.4f} ({r['brier_no_skill']:.4f})",
                "churns": f"{r['events']:,}",
                "accounts": f"{r['accounts']:,}",
            }
        )
    return pd.DataFrame(rows, columns=columns)


def headline(verdicts: dict[str, dict] | None, health_days: int) -> dict:
    """What predict says of the health it prints: whether its horizon was judged on the
    champion's data, and one sentence with the figure and interval, or why not. `judged` is
    None when nothing says: a champion trained before horizons were judged, or a health
    horizon that is none of `HORIZONS`."""
    label = next((k for k, d in HORIZONS.items() if d == health_days), None)
    r = (verdicts or {}).get(label) if label else None
    if r is None:
        why = (
            "the champion was trained before horizons were judged; retrain to check it"
            if not verdicts
            else f"no judged horizon is {health_days} days"
        )
        return {"judged": None, "horizon": label, "text": f"health horizon not checked: {why}"}
    health = label.replace(" months", "-month")  # "12 months" → "the 12-month health"
    if r["status"] != "judged":
        return {
            "judged": False,
            "horizon": label,
            "text": f"the {health} health was not judged on the champion's data: {r['reason']}",
        }
    return {
        "judged": True,
        "horizon": label,
        "text": f"the {health} health was checked out of time ({r['by']} after {r['from']}): "
        f"ROC-AUC {r['roc_auc']:.3f} [{r['roc_auc_lo']:.3f}, {r['roc_auc_hi']:.3f}] on "
        f"{r['events']:,} churns",
    }
