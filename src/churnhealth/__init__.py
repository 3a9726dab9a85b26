"""churnhealth: calibrated, explained customer health scores for B2B SaaS.

health = 100 × (1 − P(churn within the horizon)), per account, validated against what happened.
"""

__version__ = "0.1.0"
