"""`churnhealth train`: segment-specific calibrated models, tracked in MLflow.

Stages: validate the data, build features, split by time, fit a global model and one model per
segment with enough churners (logistic regression and Optuna-tuned LightGBM, the better on
validation log loss; a segment's LightGBM also learns from the other segments' rows, with a
tuned lower weight), calibrate on the validation window, learn tier cut-offs, evaluate on the
test window against the baselines (and the oracle on the demo company), log everything to
MLflow, register the model and decide champion or challenger.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.metrics import log_loss

from churnhealth import tracking
from churnhealth.atomic import write_json
from churnhealth.baselines import LOGIN_FEATURE, Scorecard, login_light
from churnhealth.config import Config
from churnhealth.data.validate import open_validated
from churnhealth.drift import Reference
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluate import (
    flag_metrics,
    paired_comparison,
    plot_reliability,
    plot_roc_pr,
    ranking_auc,
    score_metrics,
)
from churnhealth.explain import health_effects
from churnhealth.features import CATEGORICAL, FeatureSet, build_features
from churnhealth.features.grid import LIFECYCLE_STAGES
from churnhealth.models.calibrate import calibrate
from churnhealth.models.estimators import design, logistic
from churnhealth.models.routed import FittedModel, HealthModel, HealthPyfunc, load_health_model
from churnhealth.models.split import Splits, time_splits
from churnhealth.models.tiers import FLAGGED, Cutoffs, health_score, learn_cutoffs
from churnhealth.models.tune import tune_lightgbm

Stage = Callable[[str, int], Callable[[], None]]
LABEL = "churned_within_h"
TEST_FIGURES = (
    *("roc_auc", "roc_auc_se", "pr_auc", "brier", "log_loss", "ece", "recall", "precision"),
    *("churn_rate", "mean_probability", "rows"),
)
"""Test-window figures stored with the model, which the monitor compares live ones with."""


@dataclass
class TrainingData:
    """Everything the fitting and evaluation stages read: features, labels, splits."""

    source: object
    fs: FeatureSet
    frame: pd.DataFrame
    splits: Splits
    X: pd.DataFrame
    y: np.ndarray
    categories: dict[str, list[str]]
    numeric: list[str]

    def mask(self, window: str) -> np.ndarray:
        return self.splits.masks(self.frame)[window].to_numpy()


@dataclass
class TrainResult:
    run_id: str
    version: str
    alias: str
    reason: str
    metrics: dict
    splits: Splits
    model: HealthModel
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _fit_candidates(
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    cfg: Config,
    log_trials: bool = True,
    own: np.ndarray | None = None,
) -> tuple[str, object, dict]:
    """Fit logistic and tuned LightGBM; return the better on validation log loss.

    For a segment, `own` marks its rows: the logistic model fits them alone, LightGBM fits all
    rows with the others down-weighted (see `tune_lightgbm`).
    """
    numeric = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
    categorical = [c for c in X.columns if c not in numeric]
    mine = slice(None) if own is None else own
    lr = logistic(numeric, categorical, cfg.train.seed).fit(X[mine], y[mine])
    losses = {
        "logistic": log_loss(yv, np.clip(lr.predict_proba(Xv)[:, 1], 1e-6, 1 - 1e-6), labels=[0, 1])
    }
    tune = cfg.train.tuning
    gbm, params, losses["lightgbm"], trials = tune_lightgbm(
        name, X, y, Xv, yv, tune.trials, tune.timeout_s, cfg.train.seed, log_trials, own=own
    )
    kind = min(losses, key=losses.get)
    info = {
        "val_log_loss_logistic": losses["logistic"],
        "val_log_loss_lightgbm": losses["lightgbm"],
        "trials": trials,
        "lightgbm_params": params,
        "chosen": kind,
    }
    return kind, (lr if kind == "logistic" else gbm), info


def _check_trainable(y: np.ndarray, what: str) -> None:
    if len(y) < 50:
        raise ChurnhealthError(
            f"{what}: only {len(y)} labelled rows; need at least 50 "
            "(more history, or a shorter test/validation window)"
        )
    if y.sum() == 0:
        raise ChurnhealthError(
            f"{what}: no churners among {len(y)} labelled rows, nothing to learn from"
        )


def _oracle(source, frame: pd.DataFrame) -> pd.Series | None:
    """The demo company's true probabilities for the given rows, when a truth table exists."""
    if "truth" not in source.tables:
        return None
    truth = source.tables["truth"].to_pandas()
    truth["as_of"] = pd.to_datetime(truth.as_of)
    m = frame[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"], how="left")
    return pd.Series(m.p_churn_90d.to_numpy(), index=frame.index)


def _shap_plot(
    model: FittedModel, X: pd.DataFrame, background: pd.DataFrame, title: str, path: Path
) -> Path:
    """SHAP summary (beeswarm) of the model's raw score: TreeExplainer or LinearExplainer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    X, background = model.raw_input(X), model.raw_input(background)
    if model.kind == "lightgbm":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            values = shap.TreeExplainer(model.estimator).shap_values(X)
        shown = X.apply(lambda c: c.cat.codes if isinstance(c.dtype, pd.CategoricalDtype) else c)
    else:
        pre, lr = model.estimator[:-1], model.estimator[-1]
        shown = pd.DataFrame(pre.transform(X), columns=pre.get_feature_names_out())
        bg = pre.transform(background)
        values = shap.LinearExplainer(lr, bg).shap_values(shown.to_numpy())
    plt.figure()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        shap.summary_plot(values, shown, show=False, max_display=15, plot_size=(8, 6))
    plt.title(title)
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close("all")
    return path


def train(
    cfg: Config,
    data: Path | None = None,
    as_of: dt.date | None = None,
    stage: Stage | None = None,
    decide: bool = True,
) -> TrainResult:
    """Train, evaluate, log and register a model. With `decide=False` it is registered as
    @challenger without being compared with the champion (the monitor compares them)."""
    stage = stage or (lambda name, steps=1: lambda: None)
    done = stage("validating data", 1)
    source = open_validated(data or cfg.data.path, cfg.data.segments, truncate_at=as_of)
    done()
    fs = build_features(source, cfg, end=as_of, stage=stage)
    d = prepare(cfg, source, fs)
    frame, splits = d.frame, d.splits

    tracking.configure(cfg)
    with mlflow.start_run(run_name=f"train {dt.datetime.now():%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"churnhealth.kind": "train", "git_commit": tracking.git_commit()})
        params = tracking.flatten(cfg.model_dump(mode="json"))
        params.update(
            {
                "data.fingerprint": str(
                    pd.util.hash_pandas_object(frame[[*fs.features, LABEL]], index=False).sum()
                ),
                "data.source": str(source.path),
                "data.as_of": str(as_of or "latest"),
                "features.list": ",".join(fs.features),
                **{f"split.{k}": v for k, v in splits.describe().items()},
                **{
                    f"split.{w}_{k}": v
                    for w, d in splits.windows(frame).items()
                    for k, v in d.items()
                },
            }
        )
        mlflow.log_params(params)
        return _train_in_run(cfg, d, run.info.run_id, stage, decide)


def prepare(
    cfg: Config,
    source,
    fs: FeatureSet,
    splits: Splits | None = None,
    windows=("train", "val", "test"),
) -> TrainingData:
    """Design matrix, labels and time splits (the configured ones unless `splits` is given);
    each of `windows` must hold labelled rows and churners."""
    frame = fs.frame.reset_index(drop=True)
    splits = splits or time_splits(
        frame, cfg.labels.horizon_days, cfg.train.val_days, cfg.train.test_days
    )
    masks = splits.masks(frame)
    y_all = frame[LABEL].fillna(0).to_numpy(int)
    categories = {"segment": list(cfg.data.segments), "lifecycle_stage": list(LIFECYCLE_STAGES)}
    numeric = [f for f in fs.features if f not in CATEGORICAL]
    for part in windows:
        _check_trainable(y_all[masks[part].to_numpy()], f"{part} window")
    X_all = design(frame, numeric, categories)
    return TrainingData(source, fs, frame, splits, X_all, y_all, categories, numeric)


def fit_health_model(
    cfg: Config, d: TrainingData, stage: Stage, log: bool = True
) -> tuple[HealthModel, dict[str, dict], list[str]]:
    """Fit the global and per-segment models on the training window, calibrate them and learn
    tier cut-offs on the validation window. `log` records tuning and choices in the active
    MLflow run."""
    fs, frame, X_all, y_all = d.fs, d.frame, d.X, d.y
    tr, va = d.mask("train"), d.mask("val")
    seg = frame.segment.to_numpy()
    segments = list(cfg.data.segments)
    models: dict[str, FittedModel] = {}
    info: dict[str, dict] = {}
    routes: dict[str, str] = {}
    notes: list[str] = []
    advance = stage("fitting models", len(segments) + 1)

    def fit(name: str, rows_va: np.ndarray, own: np.ndarray | None = None) -> FittedModel:
        """Fit on the training window; a segment's model is validated on its own rows."""
        mine = tr if own is None else tr & own
        kind, est, meta = _fit_candidates(
            name,
            X_all[tr],
            y_all[tr],
            X_all[rows_va],
            y_all[rows_va],
            cfg,
            log,
            None if own is None else own[tr],
        )
        cal, method = calibrate(
            est, X_all[rows_va], y_all[rows_va], frame.as_of[rows_va], cfg.train.calibration
        )
        info[name] = {
            **meta,
            "calibration": method,
            "train_rows": int(mine.sum()),
            "train_churners": int(y_all[mine].sum()),
        }
        if log:
            best = {f"best.{name}.lightgbm.{k}": v for k, v in meta["lightgbm_params"].items()}
            mlflow.log_params(
                {**best, f"best.{name}.model": kind, f"best.{name}.calibration": method}
            )
        idx = np.flatnonzero(mine)
        sample = np.random.default_rng(cfg.train.seed).choice(idx, min(len(idx), 500), False)
        return FittedModel(kind, est, cal, method, True, X_all.iloc[np.sort(sample)])

    models[HealthModel.GLOBAL] = fit("global", va)
    advance()
    for s in segments:
        rows = seg == s
        churners = int(y_all[tr & rows].sum())
        if churners >= cfg.train.min_churners and y_all[va & rows].sum() > 0:
            models[s] = fit(s, va & rows, rows)
            routes[s] = s
        else:
            routes[s] = HealthModel.GLOBAL
            notes.append(
                f"{s}: {churners} churners in training (< {cfg.train.min_churners}): "
                "scored by the global model"
            )
        advance()

    hm = HealthModel(
        d.numeric,
        d.categories,
        fs.features,
        models,
        routes,
        {},
        cfg.labels.horizon_days,
        {
            "splits": d.splits.describe(),
            "trained_at": dt.datetime.now().isoformat(),
            "data_end": str(fs.data_end.date()),
            "definitions": fs.definitions,
        },
    )
    done = stage("calibration and tiers", 1)
    p_va, y_va, seg_va = hm.predict_proba(frame[va]), y_all[va], seg[va]
    tiers = cfg.tiers
    for s in [*segments, HealthModel.GLOBAL]:
        rows = seg_va == s if s != HealthModel.GLOBAL else np.ones(len(y_va), bool)
        if tiers.fixed is not None:
            hm.cutoffs[s] = Cutoffs(*[int(v) for v in tiers.fixed], source="fixed")
        else:
            hm.cutoffs[s] = learn_cutoffs(
                y_va[rows],
                p_va[rows],
                tiers.recall_at_risk,
                tiers.recall_critical,
                tiers.recall_healthy,
            )
    done()
    return hm, info, notes


def _train_in_run(
    cfg: Config, d: TrainingData, run_id: str, stage: Stage, decide: bool = True
) -> TrainResult:
    hm, info, notes = fit_health_model(cfg, d, stage)
    fs, frame, routes = d.fs, d.frame, hm.routes
    p_all = hm.predict_proba(frame)

    done = stage("evaluating", 1)
    metrics, summary, curves = _evaluate(cfg, d, p_all, hm)
    metrics.update(
        {
            "run_id": run_id,
            "splits": d.splits.describe(),
            "windows": d.splits.windows(frame),
            "routes": routes,
            "cutoffs": {k: v.as_dict() for k, v in hm.cutoffs.items()},
            "models": info,
            "notes": notes + fs.notes,
        }
    )
    hm.metadata["test_metrics"] = {
        k: v for k, v in metrics["overall"].items() if k in TEST_FIGURES and np.isfinite(v)
    }
    hm.reference = _reference(cfg, d, hm, p_all)
    done()

    done = stage("logging to MLflow", 1)
    result = _log_and_register(
        cfg, d, p_all, hm, metrics, summary, curves, run_id, notes + fs.notes, decide
    )
    done()
    return result


def _evaluate(cfg: Config, d: TrainingData, p_all: np.ndarray, hm: HealthModel):
    """Test-window metrics: model, segment vs global, baselines, oracle."""
    fs, frame, X_all, y_all, models = d.fs, d.frame, d.X, d.y, hm.models
    tr, te, segments = d.mask("train"), d.mask("test"), list(cfg.data.segments)
    y, p = y_all[te], p_all[te]
    health = health_score(p)
    seg = frame.segment.to_numpy()
    tiers_te = hm.score(frame[te]).tier.to_numpy()
    flagged = np.isin(tiers_te, FLAGGED)
    card = Scorecard({f: d for f, d in fs.features.items() if f not in CATEGORICAL}).fit(
        frame[tr], y_all[tr]
    )
    card_risk = 100 - card.health(frame[te]).to_numpy()
    has_login = LOGIN_FEATURE in frame.columns
    login = login_light(frame[te]).to_numpy() if has_login else np.zeros(int(te.sum()))
    oracle = _oracle(d.source, frame[te])
    glob = models[HealthModel.GLOBAL].predict_proba(X_all[te])
    accounts = frame.account_id.to_numpy()[te]

    def block(rows: np.ndarray) -> dict:
        out = {**score_metrics(y[rows], p[rows]), **flag_metrics(y[rows], flagged[rows])}
        out["scorecard_roc_auc"] = ranking_auc(y[rows], card_risk[rows])
        out["login_rule_roc_auc"] = ranking_auc(y[rows], login[rows]) if has_login else np.nan
        out["global_model_roc_auc"] = ranking_auc(y[rows], glob[rows])
        out["global_model_log_loss"] = score_metrics(y[rows], glob[rows])["log_loss"]
        vs = paired_comparison(accounts[rows], y[rows], p[rows], glob[rows], seed=cfg.train.seed)
        out.update({f"vs_global_{k}": v for k, v in vs.items()})
        out["lift_over_scorecard_roc_auc"] = out["roc_auc"] - out["scorecard_roc_auc"]
        out["lift_over_login_rule_roc_auc"] = out["roc_auc"] - out["login_rule_roc_auc"]
        if oracle is not None:
            out["oracle_roc_auc"] = ranking_auc(y[rows], oracle.to_numpy()[rows])
            out["oracle_log_loss"] = score_metrics(y[rows], oracle.to_numpy()[rows])["log_loss"]
        return out

    seg_te = seg[te]
    metrics = {
        "overall": block(np.ones(len(y), bool)),
        "segments": {s: block(seg_te == s) for s in segments if (seg_te == s).any()},
        "scorecard": {"weights": card.weights_, "correlations": card.correlations_},
    }
    rows = []
    for name, m in [("overall", metrics["overall"]), *metrics["segments"].items()]:
        rows.append(
            {
                "segment": name,
                "model": hm.routes.get(name, "routed"),
                "roc_auc": m["roc_auc"],
                "oracle": m.get("oracle_roc_auc", np.nan),
                "global_model": m["global_model_roc_auc"],
                "scorecard": m["scorecard_roc_auc"],
                "login": m["login_rule_roc_auc"],
                "ece": m["ece"],
                "recall": m["recall"],
                "precision": m["precision"],
                **{k: v for k, v in m.items() if k.startswith("vs_global_")},
            }
        )
    curves = {"model": (y, p), "scorecard": (y, card_risk)}
    if has_login:
        curves["login rule"] = (y, login)
    if oracle is not None:
        curves["oracle"] = (y, oracle.to_numpy())
    metrics["overall"]["health_mean"] = float(health.mean())
    return metrics, pd.DataFrame(rows), curves


def _reference(cfg: Config, d: TrainingData, hm: HealthModel, p_all: np.ndarray) -> Reference:
    """The drift reference, frozen now: the rows of the last `monitor.reference_days` of as-of
    dates (the portfolio as the model last saw it) and the model's scores on them; feature
    importance is the mean |effect| in health points on a sample of them."""
    frame = d.frame
    last = frame.as_of.max()
    rows = (frame.as_of >= last - pd.Timedelta(days=cfg.monitor.reference_days)).to_numpy()
    idx = np.flatnonzero(rows)
    rng = np.random.default_rng(cfg.train.seed)
    sample = np.sort(rng.choice(idx, min(len(idx), 1000), replace=False))
    effects, _ = health_effects(hm, frame.iloc[sample])
    return Reference(seed=cfg.train.seed).fit(
        frame[rows], d.numeric, list(d.categories), p_all[rows], effects.abs().mean().to_dict()
    )


def _log_and_register(
    cfg: Config,
    d: TrainingData,
    p_all,
    hm,
    metrics,
    summary,
    curves,
    run_id: str,
    notes: list[str],
    decide: bool = True,
) -> TrainResult:
    frame, X_all, y_all, te = d.frame, d.X, d.y, d.mask("test")
    flat = {
        f"test_{k}": v
        for k, v in metrics["overall"].items()
        if isinstance(v, float) and np.isfinite(v)
    }
    for s, m in metrics["segments"].items():
        flat.update(
            {f"test_{s}_{k}": v for k, v in m.items() if isinstance(v, float) and np.isfinite(v)}
        )
    mlflow.log_metrics(flat)
    seg = frame.segment.to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rel = {s: (y_all[te & (seg == s)], p_all[te & (seg == s)]) for s in metrics["segments"]}
        plot_reliability({"all": curves["model"], **rel}, tmp / "reliability.png")
        plot_roc_pr(curves, tmp / "roc_pr.png")
        rng = np.random.default_rng(cfg.train.seed)
        for key, model in hm.models.items():
            rows = np.flatnonzero(te & ((seg == key) if key != hm.GLOBAL else True))
            bg = np.flatnonzero(~te & ((seg == key) if key != hm.GLOBAL else True))
            sample = rng.choice(rows, min(len(rows), 1500), replace=False)
            background = rng.choice(bg, min(len(bg), 200), replace=False)
            name = "global" if key == hm.GLOBAL else key
            _shap_plot(
                model,
                X_all.iloc[sample],
                X_all.iloc[background],
                f"SHAP summary: {name} ({model.kind})",
                tmp / f"shap_{name}.png",
            )
        summary.to_csv(tmp / "summary.csv", index=False)
        cfg_path = tmp / "config.json"
        cfg_path.write_text(cfg.model_dump_json(indent=2))
        joblib.dump(hm, tmp / "health_model.joblib")
        example = frame.loc[te, hm.input_columns].head(5)
        example = example.astype(dict.fromkeys(hm.numeric, "float64"))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            signature = infer_signature(example, hm.score(example))
        for f in ("reliability.png", "roc_pr.png", "summary.csv", "config.json"):
            mlflow.log_artifact(str(tmp / f))
        for f in tmp.glob("shap_*.png"):
            mlflow.log_artifact(str(f), artifact_path="shap")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HealthPyfunc(),
            artifacts={"health_model": str(tmp / "health_model.joblib")},
            signature=signature,
            input_example=example,
            registered_model_name=cfg.mlflow.registered_model,
        )
        version = str(info.registered_model_version)
        alias, reason = (
            _decide(cfg, d.source, frame[te], y_all[te], p_all[te])
            if decide
            else (tracking.CHALLENGER, "challenger for the monitor to compare with the champion")
        )
        metrics.update({"model_version": version, "alias": alias, "alias_reason": reason})
        write_json(tmp / "metrics.json", metrics)
        mlflow.log_artifact(str(tmp / "metrics.json"))
    tracking.set_alias(cfg.mlflow.registered_model, alias, version)
    if decide and (alias == tracking.CHAMPION or not Path(cfg.paths.champion_dir).exists()):
        tracking.export_champion(cfg.mlflow.registered_model, cfg.paths.champion_dir)
    write_json(Path(cfg.paths.reports_dir) / "metrics.json", metrics)
    return TrainResult(run_id, version, alias, reason, metrics, d.splits, hm, summary, notes)


def _features_for(model: HealthModel, source, cfg: Config, rows: pd.DataFrame) -> pd.DataFrame:
    """The given (account, as-of) rows with the features `model` was trained on, rebuilt from
    the metric definitions it carries."""
    from churnhealth.features.spec import check_metrics

    metrics = check_metrics(model.metadata["definitions"], cfg.data.segments, "champion")
    dates = sorted(rows.as_of.unique())
    fs = build_features(source, cfg, metrics, dates=[pd.Timestamp(d) for d in dates])
    keys = rows[["account_id", "as_of"]]
    return keys.merge(fs.frame, on=["account_id", "as_of"], how="left").set_index(rows.index)


def _decide(
    cfg: Config, source, test: pd.DataFrame, y: np.ndarray, p: np.ndarray
) -> tuple[str, str]:
    """Champion when there is none or the new model has a lower test log loss; else challenger."""
    name = cfg.mlflow.registered_model
    current = tracking.current_champion(name)
    new_loss = log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])
    if current is None:
        return tracking.CHAMPION, "no champion yet"
    champ = load_health_model(mlflow.pyfunc.load_model(f"models:/{name}@{tracking.CHAMPION}"))
    if not set(champ.input_columns) <= set(test.columns):
        test = _features_for(champ, source, cfg, test)
    old = champ.score(test).churn_probability.to_numpy()
    old_loss = log_loss(y, np.clip(old, 1e-6, 1 - 1e-6), labels=[0, 1])
    if new_loss < old_loss:
        return tracking.CHAMPION, (
            f"test log loss {new_loss:.4f} beats champion v{current} ({old_loss:.4f})"
        )
    return tracking.CHALLENGER, (
        f"test log loss {new_loss:.4f} does not beat champion v{current} ({old_loss:.4f})"
    )


__all__ = ["TrainResult", "train"]
