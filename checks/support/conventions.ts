/**
 * Columns of widely run schemas that hold a placeholder by design. placeholder-uuid does not report them,
 * and undeclared-references does not take them for references: their name spells a table (Supabase's
 * `instance_id` -> `auth.instances`), but every row holds the nil UUID and nothing is meant to match.
 */
import { globToRegExp } from '../../src/index.js';

/** A column that holds a placeholder on purpose, in a schema many databases run unchanged. */
export interface PlaceholderConvention {
  /** Glob on `schema.table.column`: `*` matches any run of characters, `?` one character. */
  column: string;
  /** Whose schema it is. */
  source: string;
  why: string;
}

const SUPABASE_AUTH = 'Supabase Auth (github.com/supabase/auth)';
const SUPABASE_INSTANCE_ID =
  'written as the nil UUID in every row, and the auth server looks rows up WHERE instance_id = the nil UUID: setting it to NULL locks every user out';
const NONE_ATTESTATION_AAGUID = 'the all-zero AAGUID of a passkey registered with "none" attestation, stored as the nil UUID';

/**
 * Columns that hold a placeholder by design, shown by `integrity explain placeholder-uuid`; the config's
 * `conventions` adds to them. Such a column is not reported, unless a foreign key, a declared relation or a
 * key that foreign keys point at involves it: a placeholder there is a reference to nothing, convention or not.
 */
export const KNOWN_CONVENTIONS: readonly PlaceholderConvention[] = [
  { column: 'auth.users.instance_id', source: SUPABASE_AUTH, why: SUPABASE_INSTANCE_ID },
  { column: 'auth.refresh_tokens.instance_id', source: SUPABASE_AUTH, why: SUPABASE_INSTANCE_ID },
  { column: 'auth.audit_log_entries.instance_id', source: SUPABASE_AUTH, why: SUPABASE_INSTANCE_ID },
  { column: 'auth.webauthn_credentials.aaguid', source: SUPABASE_AUTH, why: NONE_ATTESTATION_AAGUID },
  { column: 'auth.mfa_factors.web_authn_aaguid', source: SUPABASE_AUTH, why: NONE_ATTESTATION_AAGUID },
];

const KNOWN_PATTERNS = KNOWN_CONVENTIONS.map((c) => globToRegExp(c.column));

/** Whether a known convention covers `schema.table.column`. */
export function isKnownConvention(schema: string, table: string, column: string): boolean {
  const name = `${schema}.${table}.${column}`;
  return KNOWN_PATTERNS.some((re) => re.test(name));
}
