#!/bin/bash
# Run once by the postgres image on its first start (an empty postgres-data volume): the
# login Grafana reads irrigation with. It gets no table here: the smartfarm processes create
# their tables later, and the grafana-grants service then grants SELECT on exactly the ones
# the dashboard reads (never users or the audit log).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader_password="$GRAFANA_PG_PASSWORD" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE :"DBNAME" TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
SQL
