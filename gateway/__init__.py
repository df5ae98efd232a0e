"""Gateway: MQTT readings in, validated and calibrated, into the TelemetryStore."""
