#!/bin/sh
# Gives launchguard's read-only role its password from the environment (compose's .env), after
# the migrations created the role. Runs once, on the first start of an empty data volume.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$READER_PASSWORD" --username postgres --dbname postgres <<'SQL'
alter role launchguard_reader with password :'pw';
SQL
