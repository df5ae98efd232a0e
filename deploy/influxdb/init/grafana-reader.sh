#!/bin/bash
# Run once by the influxdb:2.7 image right after its first setup (an empty influxdb-data
# volume): a read-only InfluxQL (v1 API) login on the readings bucket for Grafana.
# The image exports DOCKER_INFLUXDB_INIT_BUCKET_ID and points the influx CLI at the
# admin token before running these scripts.
set -euo pipefail
influx v1 auth create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --username "${GRAFANA_INFLUX_USERNAME}" \
  --password "${GRAFANA_INFLUX_PASSWORD}" \
  --read-bucket "${DOCKER_INFLUXDB_INIT_BUCKET_ID}"
