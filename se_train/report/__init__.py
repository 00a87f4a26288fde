"""Experiment folder -> tidy tables -> the study's table, effects, plots and summary.md."""
