import type { Queryable } from '../db/session.js';
import { isNode, type Node } from './statements.js';

/**
 * The settings of the migration's own session that change what its statements mean or what they compute:
 * where unqualified names resolve, how string literals parse, how text converts to and from dates, times
 * and intervals. Names as PostgreSQL folds them (lower case).
 */
export const FOLLOWED_SETTINGS = ['search_path', 'standard_conforming_strings', 'datestyle', 'intervalstyle', 'timezone'] as const;
export type FollowedSetting = (typeof FOLLOWED_SETTINGS)[number];

/** The settings a conversion between text and a date/time type depends on. */
export const DATETIME_SETTINGS = ['datestyle', 'intervalstyle', 'timezone'] as const satisfies readonly FollowedSetting[];

/** A setting's value in the migration's session, or why it cannot be known. */
export type SettingValue = { value: string } | { unknown: string };

export interface SessionDefaults {
  /** The role preflight connects as: the migration is assumed to run as it ("$user" in search_path). */
  role: string;
  /** What a new session of that role on this database starts with. */
  values: Record<FollowedSetting, string>;
  /** Our own session's values of the date/time settings, as pinned for the audit (TimeZone is the server's). */
  ours: Record<(typeof DATETIME_SETTINGS)[number], string>;
}

/**
 * What a new session of the connected role on this database starts with. Our own session's search_path,
 * DateStyle and the others are pinned for the audit, so current_setting would give ours: the role's and
 * the database's defaults are read from pg_db_role_setting (the database and role together, then the
 * role, then the database, then ALTER ROLE ALL), else the server's (pg_settings.reset_val).
 */
export async function readSessionDefaults(db: Queryable): Promise<SessionDefaults> {
  const res = await db.query<{ name: FollowedSetting; value: string; role: string; ours: string }>(
    `SELECT pg_catalog.lower(s.name) AS name, pg_catalog.session_user()::pg_catalog.text AS role, pg_catalog.current_setting(s.name) AS ours,
            COALESCE((SELECT pg_catalog.substr(c.item, pg_catalog.strpos(c.item, '=') OPERATOR(pg_catalog.+) 1)
                        FROM pg_catalog.pg_db_role_setting d
                        CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS c(item)
                       WHERE d.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0::pg_catalog.oid, (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())])
                         AND d.setrole OPERATOR(pg_catalog.=) ANY (ARRAY[0::pg_catalog.oid, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.session_user())])
                         AND pg_catalog.lower(pg_catalog.split_part(c.item, '=', 1)) OPERATOR(pg_catalog.=) pg_catalog.lower(s.name)
                       ORDER BY d.setrole OPERATOR(pg_catalog.<>) 0::pg_catalog.oid AND d.setdatabase OPERATOR(pg_catalog.<>) 0::pg_catalog.oid DESC,
                                d.setrole OPERATOR(pg_catalog.<>) 0::pg_catalog.oid DESC,
                                d.setdatabase OPERATOR(pg_catalog.<>) 0::pg_catalog.oid DESC
                       LIMIT 1),
                     s.reset_val) AS value
       FROM pg_catalog.pg_settings s
      WHERE pg_catalog.lower(s.name) OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])`,
    [[...FOLLOWED_SETTINGS]],
  );
  const values = Object.fromEntries(FOLLOWED_SETTINGS.map((n) => [n, ''])) as Record<FollowedSetting, string>;
  const ours = { datestyle: '', intervalstyle: '', timezone: '' };
  for (const r of res.rows) {
    values[r.name] = r.value;
    if (r.name === 'datestyle' || r.name === 'intervalstyle' || r.name === 'timezone') ours[r.name] = r.ours;
  }
  return { role: res.rows[0]?.role ?? '', values, ours };
}

/** The defaults when nothing could be read (a test's own judges): PostgreSQL's built-in ones. */
export const BUILT_IN_DEFAULTS: SessionDefaults = {
  role: '',
  values: { search_path: '"$user", public', standard_conforming_strings: 'on', datestyle: 'ISO, MDY', intervalstyle: 'postgres', timezone: 'UTC' },
  ours: { datestyle: 'ISO, MDY', intervalstyle: 'postgres', timezone: 'UTC' },
};

/**
 * A search_path value's schemas, as PostgreSQL reads it: comma-separated identifiers, a double-quoted one
 * kept as written ("$user" included), an unquoted one folded to lower case.
 */
export function parseSearchPath(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /[\s,]/.test(value[i] as string)) i++;
    if (i >= value.length) break;
    if (value[i] === '"') {
      let name = '';
      i++;
      while (i < value.length) {
        if (value[i] === '"' && value[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (value[i] === '"') {
          i++;
          break;
        } else name += value[i++];
      }
      out.push(name);
    } else {
      let name = '';
      while (i < value.length && value[i] !== ',') name += value[i++];
      out.push(name.trim().toLowerCase());
    }
  }
  return out;
}

/** One element of a search_path, written so that parseSearchPath gives it back. */
export const quotedPathElement = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A SET statement's value as the text the setting would hold, or null when it is not a plain constant. */
export function setValueText(name: string, args: Node[]): string | null {
  const parts: string[] = [];
  for (const a of args) {
    const c = isNode(a.A_Const) ? (a.A_Const as Node) : null;
    if (!c) return null;
    const text = isNode(c.sval)
      ? String((c.sval as Node).sval ?? '')
      : isNode(c.ival)
        ? String((c.ival as Node).ival ?? 0)
        : isNode(c.fval)
          ? String((c.fval as Node).fval ?? '')
          : isNode(c.boolval)
            ? ((c.boolval as Node).boolval === true ? 'on' : 'off')
            : null;
    if (text === null) return null;
    parts.push(name === 'search_path' ? quotedPathElement(text) : text);
  }
  return parts.join(', ');
}

/** Whether a boolean setting's text means on (PostgreSQL takes on, true, yes, 1 and their prefixes). */
export function isOn(value: string): boolean {
  return /^(on|t|tr|tru|true|y|ye|yes|1)$/i.test(value.trim());
}
