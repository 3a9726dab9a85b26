"""The skill gate: may a newly trained model become champion?

On the horizons judged censoring-aware (`evaluation.judged`): the health horizon, or the longest
judged one when the data cannot judge it, must rank better than chance and better than the best
baseline beyond noise, or be level with that baseline there and better at a shorter judged
horizon (docs/training.md). A model that fails is registered without an alias; the verdict
names the causes the data shows and what to do.
"""

from __future__ import annotations

from churnhealth.evaluation.judged import MIN_EVENTS
from churnhealth.evaluation.training_report import Gate


def gate(
    verdicts: dict[str, dict],
    health_days: int,
    *,
    constant: list[str] = (),
    absent: list[str] = (),
) -> Gate:
    """Whether a model may become champion: on the health horizon, or the longest judged one
    when the data cannot judge it, its ROC-AUC must beat chance (the 95% interval's lower end
    above 0.5) and the best baseline (the paired advantage's lower end above 0), or else be no
    worse than that baseline there (the upper end above 0) and beat it at a shorter judged
    horizon: a 12-month ranking the scorecard matches still passes when the model is ahead
    at 9 months, and the reason says so. Nothing judged fails: skill that cannot be shown is
    not assumed. The features `constant` (or
    empty) in training and the signal tables `absent` from the data feed the causes named."""
    health = next((lab for lab, r in verdicts.items() if r["days"] == health_days), None)
    judged = {lab: r for lab, r in verdicts.items() if r["status"] == "judged"}
    causes = _causes(verdicts, health, constant, absent)
    if not judged:
        first = next(iter(verdicts.items()), None)
        why = f" ({first[0]}: {first[1]['reason']})" if first else ""
        return Gate(
            status="failed",
            horizon=None,
            reason=f"no horizon could be judged on this data{why}",
            causes=causes,
        )
    if health in judged:
        label, which = health, "the health horizon"
    else:
        label = max(judged, key=lambda lab: judged[lab]["days"])
        which = f"the longest judged horizon ({health} not judged: {verdicts[health]['reason']})"
    r = judged[label]
    best = r.get("best_baseline")
    chance = r["roc_auc_lo"] > 0.5
    figures = (
        f"{label} ROC-AUC {r['roc_auc']:.3f} [{r['roc_auc_lo']:.3f}, {r['roc_auc_hi']:.3f}] on "
        f"{r['events']:,} churns"
    )
    shorter = None
    if best is None:
        beats = True
    else:
        figures += f", {_advantage(r)} over the {best} ({r['baselines'][best]:.3f})"
        beats = r["vs_best_roc_auc_diff_lo"] > 0
        if not beats and r["vs_best_roc_auc_diff_hi"] > 0:  # not worse: better nearer in?
            nearer = [
                lab
                for lab, v in judged.items()
                if v["days"] < r["days"] and v.get("vs_best_roc_auc_diff_lo", 0) > 0
            ]
            shorter = max(nearer, key=lambda lab: judged[lab]["days"]) if nearer else None
            beats = shorter is not None
    if chance and beats:
        verdict = "passed"
        if shorter:
            figures += (
                f": not better than the {best} beyond noise there, nor worse; better at "
                f"{shorter} ({_advantage(judged[shorter])})"
            )
    elif not chance:
        verdict = "failed"
        figures += ": no better than chance beyond noise"
    else:
        verdict = "failed"
        figures += f": no better than the {best} beyond noise"
    return Gate(
        status=verdict,
        horizon=label,
        horizon_days=r["days"],
        why_horizon=which,
        by=r.get("by"),
        roc_auc=r["roc_auc"],
        roc_auc_lo=r["roc_auc_lo"],
        roc_auc_hi=r["roc_auc_hi"],
        best_baseline=best,
        vs_best_roc_auc_diff_lo=r.get("vs_best_roc_auc_diff_lo"),
        reason=figures,
        causes=causes if verdict == "failed" else [],
    )


def _advantage(r: dict) -> str:
    """The ROC-AUC advantage over the best baseline with its 95% interval."""
    return (
        f"{r['vs_best_roc_auc_diff']:+.3f} [{r['vs_best_roc_auc_diff_lo']:+.3f}, "
        f"{r['vs_best_roc_auc_diff_hi']:+.3f}]"
    )


def _causes(verdicts: dict[str, dict], health: str | None, constant, absent) -> list[str]:
    """What the data shows that could explain a model without skill."""
    out = []
    events = max((r.get("events", 0) for r in verdicts.values()), default=0)
    if events < 3 * MIN_EVENTS:
        out.append(f"few churners: {events} churns after the validation window")
    if absent:
        out.append(f"signal tables absent: {', '.join(absent)}")
    if constant:
        shown = ", ".join(constant[:3]) + (f" and {len(constant) - 3} more" * (len(constant) > 3))
        out.append(f"{len(constant)} features constant or empty in training: {shown}")
    if health is not None and verdicts[health]["status"] != "judged":
        out.append(f"short history: {verdicts[health]['reason']}")
    return out


ADVICE = (
    "train on more history or more accounts; check with `churnhealth doctor` that usage, "
    "engagement and support signals reach the features; or, accepting the risk, "
    "`churnhealth promote VERSION --force --reason TEXT`"
)
"""What to do when a model fails the gate."""
