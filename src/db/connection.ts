import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClientConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { UsageError } from '../errors.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Where to connect, as libpq would resolve it; the password is kept apart from anything printable. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  sslMode: SslMode;
  sslRootCert: string | undefined;
  connectTimeoutSec: number;
  applicationName: string;
  /** Where the settings came from, for error messages. */
  source: 'url' | 'DATABASE_URL' | 'environment';
}

export interface ResolveInput {
  databaseUrl: string | undefined;
  env: NodeJS.ProcessEnv;
  /** From --connect-timeout; when absent, connect_timeout in the URL, PGCONNECT_TIMEOUT, then 10. */
  connectTimeoutSec: number | undefined;
  applicationName: string;
}

/**
 * --database-url, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
 * PGDATABASE, PGSSLMODE, PGSSLROOTCERT) with psql's defaults for what is unset.
 */
export function resolveConnection(input: ResolveInput): ConnectionTarget {
  const fromFlag = input.databaseUrl?.trim();
  const fromEnv = input.env.DATABASE_URL?.trim();
  const settings = fromFlag
    ? parseConnectionString(fromFlag, '--database-url')
    : fromEnv
      ? parseConnectionString(fromEnv, 'DATABASE_URL')
      : new Map<string, string>();
  const source: ConnectionTarget['source'] = fromFlag ? 'url' : fromEnv ? 'DATABASE_URL' : 'environment';
  const env = input.env;
  const pick = (key: string, envName: string): string | undefined => {
    const v = settings.get(key);
    if (v !== undefined && v !== '') return v;
    const e = env[envName];
    return e !== undefined && e !== '' ? e : undefined;
  };

  const portText = pick('port', 'PGPORT') ?? '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(portText)}: give a number between 1 and 65535`);
  }
  const user = pick('user', 'PGUSER') ?? safeOsUser();
  const database = pick('dbname', 'PGDATABASE') ?? user;
  const host = pick('host', 'PGHOST') ?? defaultHost(port);
  const sslModeText = (pick('sslmode', 'PGSSLMODE') ?? 'prefer').toLowerCase();
  if (!SSL_MODES.includes(sslModeText as SslMode)) {
    throw new UsageError(`invalid sslmode ${JSON.stringify(sslModeText)}: use one of ${SSL_MODES.join(', ')}`);
  }
  const timeoutText = pick('connect_timeout', 'PGCONNECT_TIMEOUT');
  const connectTimeoutSec = input.connectTimeoutSec ?? (timeoutText !== undefined ? Number(timeoutText) : 10);
  if (!Number.isFinite(connectTimeoutSec) || connectTimeoutSec <= 0) {
    throw new UsageError(`invalid connect timeout ${JSON.stringify(timeoutText)}: give a number of seconds above 0`);
  }

  return {
    host,
    port,
    database,
    user,
    password: pick('password', 'PGPASSWORD'),
    sslMode: sslModeText as SslMode,
    sslRootCert: pick('sslrootcert', 'PGSSLROOTCERT'),
    connectTimeoutSec,
    applicationName: input.applicationName,
    source,
  };
}

/** Accepts a postgres:// URL or a libpq key=value string, as psql does. */
export function parseConnectionString(text: string, origin: string): Map<string, string> {
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUrl(text, origin);
  if (/^\s*\w+\s*=/.test(text)) return parseKeywordValue(text, origin);
  throw new UsageError(
    `${origin} is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."`,
  );
}

/** A libpq connection URI: postgres[ql]://[user[:password]@][host][:port][/dbname][?key=value&...]. */
function parseUrl(text: string, origin: string): Map<string, string> {
  const m = /^postgres(?:ql)?:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/i.exec(text);
  if (!m) throw new UsageError(`${origin} is not a valid URL: expected postgres://user@host:5432/dbname`);
  const decode = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      throw new UsageError(`${origin} has a malformed %-escape; percent-encode special characters in it`);
    }
  };
  const out = new Map<string, string>();
  const authority = m[1] ?? '';
  // The user info ends at the last '@', so an unencoded '@' in a password still parses.
  const at = authority.lastIndexOf('@');
  const userInfo = at >= 0 ? authority.slice(0, at) : '';
  const hostSpec = at >= 0 ? authority.slice(at + 1) : authority;
  if (userInfo) {
    const colon = userInfo.indexOf(':');
    const user = colon >= 0 ? userInfo.slice(0, colon) : userInfo;
    if (user) out.set('user', decode(user));
    if (colon >= 0) out.set('password', decode(userInfo.slice(colon + 1)));
  }
  if (hostSpec.includes(',')) {
    throw new UsageError(`${origin} names several hosts; integrity connects to one: give a single host (a replica, for the nightly audit)`);
  }
  const hostMatch = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostSpec);
  const host = hostMatch?.[1] ?? '';
  const port = hostMatch?.[2];
  if (host) out.set('host', decode(host.replace(/^\[(.*)\]$/, '$1')));
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new UsageError(`${origin} has an invalid port: give a number from 1 to 65535 after the host`);
    }
    out.set('port', port);
  }
  const db = decode(m[2] ?? '');
  if (db) out.set('dbname', db);
  for (const pair of (m[3] ?? '').split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new UsageError(`${origin} has a query parameter without a value; use key=value`);
    const key = decode(pair.slice(0, eq));
    out.set(key === 'database' ? 'dbname' : key, decode(pair.slice(eq + 1)));
  }
  return out;
}

function parseKeywordValue(text: string, origin: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^'\s]\S*|))/y;
  let last = 0;
  for (;;) {
    re.lastIndex = last;
    const m = re.exec(text);
    if (!m) break;
    out.set(m[1] as string, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
    last = re.lastIndex;
    if (last >= text.length) break;
  }
  if (text.slice(last).trim() !== '') {
    // Never echo the text: it may hold a password.
    throw new UsageError(`${origin} could not be read at character ${last + 1}: use key=value pairs, quoting values with spaces in single quotes`);
  }
  return out;
}

function safeOsUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** libpq's default: the Unix socket when the server has one where Debian and upstream put it, else localhost. */
function defaultHost(port: number): string {
  for (const dir of ['/var/run/postgresql', '/tmp']) {
    if (existsSync(path.join(dir, `.s.PGSQL.${port}`))) return dir;
  }
  return 'localhost';
}

export function isSocketHost(host: string): boolean {
  return host.startsWith('/');
}

/** The pg client settings for one attempt; `withSsl` chooses between the two tries of sslmode=prefer/allow. */
export function clientConfig(target: ConnectionTarget, withSsl: boolean): ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    application_name: target.applicationName,
    connectionTimeoutMillis: Math.round(target.connectTimeoutSec * 1000),
    ssl: withSsl ? sslOptions(target) : false,
  };
}

function sslOptions(target: ConnectionTarget): ConnectionOptions {
  const verifying = target.sslMode === 'verify-ca' || target.sslMode === 'verify-full';
  let ca: string | undefined;
  if (verifying && target.sslRootCert) {
    try {
      ca = readFileSync(target.sslRootCert, 'utf8');
    } catch {
      throw new UsageError(`cannot read sslrootcert ${target.sslRootCert}; give the path of the server's CA certificate`);
    }
  }
  switch (target.sslMode) {
    case 'verify-full':
      return { rejectUnauthorized: true, ...(ca ? { ca } : {}) };
    case 'verify-ca':
      // libpq's verify-ca checks the chain but not the host name.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...(ca ? { ca } : {}) };
    default:
      // require, prefer and allow encrypt without verifying, as libpq does.
      return { rejectUnauthorized: false };
  }
}

/** The order of attempts libpq makes for each sslmode (sockets never use SSL). */
export function sslAttempts(target: ConnectionTarget): boolean[] {
  if (isSocketHost(target.host)) return [false];
  switch (target.sslMode) {
    case 'disable':
      return [false];
    case 'allow':
      return [false, true];
    case 'prefer':
      return [true, false];
    default:
      return [true];
  }
}

/** A description of the target that is safe to print anywhere: never the password. */
export function describeTarget(target: ConnectionTarget): string {
  const host = isSocketHost(target.host) ? `socket ${target.host}` : `${target.host}:${target.port}`;
  return `${target.user}@${host}/${target.database}`;
}

/** Removes any password from text that may contain a connection string. */
export function redactSecrets(text: string, secrets: (string | undefined)[] = []): string {
  let out = text
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^\s/?#]*@/gi, '$1***@')
    .replace(/([?&]password=)[^&\s#]*/gi, '$1***')
    .replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
