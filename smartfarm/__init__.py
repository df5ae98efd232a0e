"""smartfarm: soil-moisture telemetry and drip-irrigation control for smallholder farms."""

__version__ = "0.1.0"
