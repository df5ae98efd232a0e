"""Controller: pure irrigation rules wrapped in MQTT and APScheduler adapters."""
