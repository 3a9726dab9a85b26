"""Scores and what follows from them: health and tiers, explanations in health points, trend,
the health history, playbooks and alerts."""
