"""How good the scores are and whether they still are: metrics and plots, the test window,
the rolling-origin backtest, drift monitoring, champion against challenger, the HTML report."""
