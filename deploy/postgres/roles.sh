#!/usr/bin/env bash
# Countersign's two database roles, made once when the PostgreSQL volume is first initialised
# (the postgres image runs /docker-entrypoint-initdb.d/*.sh as the superuser; see README, "Audit").
#
# - countersign_owner owns the database, its schema and every table: `migrate` connects as it.
# - countersign_app is what web, ws, worker and beat connect as: SELECT, INSERT, UPDATE and DELETE
#   on the owner's tables by default privileges, never TRUNCATE or DDL. Audit migration 0004 then
#   leaves it only SELECT and INSERT on audit_auditevent, the audit log.
set -euo pipefail

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="${COUNTERSIGN_OWNER_PASSWORD:?set COUNTERSIGN_OWNER_PASSWORD}" \
    -v app_password="${COUNTERSIGN_APP_PASSWORD:?set COUNTERSIGN_APP_PASSWORD}" <<'SQL'
CREATE ROLE countersign_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE countersign_app LOGIN PASSWORD :'app_password';

ALTER DATABASE :"DBNAME" OWNER TO countersign_owner;
ALTER SCHEMA public OWNER TO countersign_owner;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO countersign_app;
GRANT USAGE ON SCHEMA public TO countersign_app;

-- Tables and sequences the owner's migrations create: the app reads and writes rows, nothing else.
ALTER DEFAULT PRIVILEGES FOR ROLE countersign_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO countersign_app;
ALTER DEFAULT PRIVILEGES FOR ROLE countersign_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO countersign_app;
SQL
