"""The jobs users run: each wires the stages of one command and returns a dataclass.

features (validate → build → save), train, predict and explain, backtest, monitor (with the
retraining decision) and report. Jobs do not import each other; what two share lives in the
fitter (`models.fitter`), the scorer (`scoring.scorer`) or the tracking adapter (`tracking`).
"""
