export const CHECK_EXAMPLES = `
Examples:
  Local, against the database in DATABASE_URL or the PG* variables:
    $ integrity check
    $ integrity check -d postgres://me@localhost:5432/app --check orphan-rows --deep

  Nightly cron against a replica, JSON kept for the record, warnings count:
    $ integrity check -d "$REPLICA_URL" --deep --jobs 2 --statement-timeout 600000 \\
        --format json --output /var/log/integrity/$(date +%F).json --fail-on warning

  Pre-deploy gate in CI (exit 1 blocks on errors, exit 2 means the audit itself failed):
    $ integrity check --database-url "$STAGING_DATABASE_URL" --format json --output integrity.json

Exit codes: 0 no finding at or above --fail-on · 1 findings at or above it · 2 the audit failed
(bad option or config, no connection, a check errored). Skipped checks are listed with their reason.`;
