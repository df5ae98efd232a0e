"""Simulated farm: soil, sensor nodes and valve nodes speaking the real MQTT contract."""
