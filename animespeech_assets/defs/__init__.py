"""Dagster definitions: partitions, resources, assets by stage, checks, sensors, schedules.

Only this package imports Dagster; it wraps the plain-Python domain modules.
"""
