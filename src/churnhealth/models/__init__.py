"""Models: time splits, candidate estimators, tuning, calibration, tiers, the routed model."""
