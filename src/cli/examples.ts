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
(bad option or config, no database given or an empty --database-url, no connection, a check errored,
or nothing audited: no table, or every check skipped, unless --allow-empty). Skipped checks are listed
with their reason; under --sample-percent a check that found nothing is "sampled", never "passed".`;

export const FIX_EXAMPLES = `
Examples:
  Write the repair script, read it, then prove it clears the findings without changing anything:
    $ integrity fix -d "$DATABASE_URL" --deep --output fix.sql
    $ integrity fix -d "$DATABASE_URL" --deep --verify
  Run it with psql, or let integrity apply it and audit again:
    $ psql -v ON_ERROR_STOP=1 -f fix.sql "$DATABASE_URL"
    $ integrity fix -d "$DATABASE_URL" --deep --apply --yes

Exit codes: --verify exits 0 only when every repaired finding is cleared, 1 otherwise; 2 when it could
not run. Statements marked REVIEW are never run; they are commented out in the script.`;
