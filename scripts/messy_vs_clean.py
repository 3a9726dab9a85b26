"""Train on the demo company as it is and as a messy export, and compare (issue 2.4).

    python scripts/messy_vs_clean.py [--out reports/messy] [--accounts 5000] [--years 3]
                                     [--seed 0] [--keep]

Writes the clean company (`churnhealth synth`) and the same company with the defects of real
exports (`churnhealth synth --messy`, docs/messy-data.md), trains each with the default
configuration through the CLI (the messy one with `configs/examples/messy-demo.yaml`, the one
line its relabelled segment needs), prints the notes the messy training gave and the test
figures side by side, and writes them to OUT/messy-vs-clean.json. Takes about 6 minutes for
the default company on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _workspace(root: Path, data: Path, sources: Path | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cfg = {
        "data": {"path": str(data), **({"sources": str(sources)} if sources else {})},
        "features": {"definitions": str(REPO / "configs/features.yaml")},
        "mlflow": {
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_location": str(root / "mlartifacts"),
        },
        "paths": {"champion_dir": str(root / "champion"), "reports_dir": str(root / "reports")},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["COLUMNS"] = "1000"  # one note per line
    exe = Path(sys.executable).with_name("churnhealth")
    done = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, check=False, cwd=REPO
    )
    if done.returncode:
        sys.exit(f"churnhealth {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _figures(metrics: dict) -> dict[str, float]:
    h = metrics["horizons"]
    out = {
        "90-day ROC-AUC (test)": metrics["overall"]["roc_auc"],
        "90-day ECE (test)": metrics["overall"]["ece"],
        "12-month ROC-AUC (year ahead)": h["overall"]["12m"]["roc_auc"],
        "12-month ECE (year ahead)": h["overall"]["12m"]["ece"],
    }
    for s, m in metrics["segments"].items():
        out[f"90-day ROC-AUC {s}"] = m["roc_auc"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "messy")
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="reuse a company already trained in OUT")
    a = ap.parse_args()
    out = a.out.resolve()
    size = ["--accounts", str(a.accounts), "--years", str(a.years), "--seed", str(a.seed)]
    results, notes = {}, []
    for kind in ("clean", "messy"):
        data = out / f"{kind}.duckdb"
        done = out / kind / "reports" / "metrics.json"
        if a.keep and done.is_file() and kind == "clean":
            results[kind] = _figures(json.loads(done.read_text()))
            continue
        print(f"{kind}: writing the company", flush=True)
        _run("synth", "--out", str(data), *size, *(["--messy"] if kind == "messy" else []))
        sources = REPO / "configs/examples/messy-demo.yaml" if kind == "messy" else None
        cfg = _workspace(out / kind, data, sources)
        print(f"{kind}: training", flush=True)
        log = _run("train", "--config", str(cfg))
        if kind == "messy":
            notes = [line for line in log.splitlines() if line.startswith("note:")]
        metrics = json.loads((out / kind / "reports" / "metrics.json").read_text())
        results[kind] = _figures(metrics)
    print("\n".join(notes))
    print(f"\n{'':34}{'clean':>8}{'messy':>8}{'messy − clean':>15}")
    rows = {}
    for name, clean in results["clean"].items():
        messy = results["messy"][name]
        rows[name] = {"clean": clean, "messy": messy, "difference": messy - clean}
        print(f"{name:34}{clean:8.3f}{messy:8.3f}{messy - clean:+15.3f}")
    report = {"company": dict(zip(size[::2], size[1::2], strict=True)), "figures": rows}
    report["notes"] = notes
    (out / "messy-vs-clean.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {out / 'messy-vs-clean.json'}")


if __name__ == "__main__":
    main()
