"""The save list against the demo's truth: what ranking by measured effects keeps.

At one as-of date, three lists of the team's capacity are worked, each account with one play,
and judged by the truth (ARR × the true change in P(churn within a year) from that play, run
that month):

- **effects**: the product's list with trusted effects: every account a play is expected to
  save ARR on, most first, each with the play the estimates name (`scoring.saving`);
- **risk**: the list ranked by expected ARR lost among the accounts at risk for their signals
  (the save list without effects), each worked with the same estimated best play, so the two
  differ only in whom they pick; and with the play the truth knows is best, its upper bound;
- **lost, whole book**: ranked by expected ARR lost over every account, with the estimated best
  play: how much of the gain comes from looking past the at-risk tier rather than from the
  effects themselves;
- **oracle**: the whole book ranked by ARR × the true effect of the truly best play.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.scoring.playbooks import at_stake

AT_RISK = ("signals", "csm")


def true_gain(frame: pd.DataFrame, plays: pd.Series) -> np.ndarray:
    """Per row, ARR × the true reduction of churn from the play named in `plays` (0 for none)."""
    out = np.zeros(len(frame))
    for play in plays.dropna().unique():
        col = f"effect_{play}_12m"
        rows = (plays == play).to_numpy()
        if col in frame:
            out[rows] = -frame[col].to_numpy(float)[rows]
    return frame.arr.to_numpy(float) * np.nan_to_num(out)


def compare(scores: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """ARR kept by the truth, and accounts, of each list of `k` (see the module). `scores`: a
    predict run's scores with effects (best_play, arr_saved); `truth`: per account_id the
    true effect columns effect_<play>_12m at the same as-of date."""
    s = scores.merge(truth, on="account_id", how="inner", validate="one_to_one")
    effect_cols = [c for c in s.columns if c.startswith("effect_") and c.endswith("_12m")]
    names = [c.removeprefix("effect_").removesuffix("_12m") for c in effect_cols]
    true_best = pd.Series(
        np.array(names, dtype=object)[np.argmin(s[effect_cols].to_numpy(float), axis=1)],
        index=s.index,
    )
    s = s.assign(arr_at_stake=at_stake(s))
    at_risk = s[s.at_risk_for.isin(AT_RISK)]
    lists = {
        "effects": (s[s.arr_saved.fillna(0) > 0].nlargest(k, "arr_saved"), "best_play"),
        "risk": (at_risk.nlargest(k, "arr_at_stake"), "best_play"),
        "risk, truly best play": (at_risk.nlargest(k, "arr_at_stake"), None),
        "lost, whole book": (s.nlargest(k, "arr_at_stake"), "best_play"),
    }
    oracle = s.assign(_g=true_gain(s, true_best)).nlargest(k, "_g")
    lists["oracle"] = (oracle, None)
    rows = []
    for name, (chosen, column) in lists.items():
        plays = chosen[column] if column else true_best[chosen.index]
        rows.append(
            {
                "list": name,
                "accounts": len(chosen),
                "arr_kept": float(true_gain(chosen, plays).sum()),
                "arr_worked": float(chosen.arr.sum()),
            }
        )
    out = pd.DataFrame(rows).set_index("list")
    out["of_oracle"] = out.arr_kept / out.arr_kept["oracle"]
    out["of_risk"] = out.arr_kept / out.arr_kept["risk"]
    return out
