"""Tidal's updater: applies VPA recommendations to running pods, in place or by eviction."""
