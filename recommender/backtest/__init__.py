"""Replay (what the recommender would have published, step by step) and backtest scoring."""
