"""Persistence: the scenario store."""
