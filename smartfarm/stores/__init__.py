"""Stores: time series (TelemetryStore) and operational state (StateStore)."""
