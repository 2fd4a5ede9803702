"""Answers from the recorded lineage: why a row is in a dataset, what changed between versions."""
