import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ClientConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { UsageError } from '../errors.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export type TargetSessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

export type ChannelBinding = 'disable' | 'prefer' | 'require';
export type AuthMethod = 'password' | 'md5' | 'gss' | 'sspi' | 'scram-sha-256' | 'none';
const AUTH_METHODS: readonly AuthMethod[] = ['password', 'md5', 'gss', 'sspi', 'scram-sha-256', 'none'];

type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Every connection keyword libpq knows (PostgreSQL 18), with the environment variable that supplies it
 * when neither the connection string nor the service sets it. Each one either works as in psql or is
 * rejected by name in resolveConnection: none is silently ignored.
 */
export const LIBPQ_KEYWORDS: Readonly<Record<string, string | null>> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  passfile: 'PGPASSFILE',
  require_auth: 'PGREQUIREAUTH',
  channel_binding: 'PGCHANNELBINDING',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  client_encoding: 'PGCLIENTENCODING',
  options: 'PGOPTIONS',
  application_name: 'PGAPPNAME',
  fallback_application_name: null,
  keepalives: null,
  keepalives_idle: null,
  keepalives_interval: null,
  keepalives_count: null,
  tcp_user_timeout: null,
  replication: null,
  gssencmode: 'PGGSSENCMODE',
  sslmode: 'PGSSLMODE',
  requiressl: 'PGREQUIRESSL',
  sslnegotiation: 'PGSSLNEGOTIATION',
  sslcompression: 'PGSSLCOMPRESSION',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslpassword: null,
  sslcertmode: 'PGSSLCERTMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcrl: 'PGSSLCRL',
  sslcrldir: 'PGSSLCRLDIR',
  sslsni: 'PGSSLSNI',
  sslkeylogfile: null,
  requirepeer: 'PGREQUIREPEER',
  ssl_min_protocol_version: 'PGSSLMINPROTOCOLVERSION',
  ssl_max_protocol_version: 'PGSSLMAXPROTOCOLVERSION',
  min_protocol_version: 'PGMINPROTOCOLVERSION',
  max_protocol_version: 'PGMAXPROTOCOLVERSION',
  krbsrvname: 'PGKRBSRVNAME',
  gsslib: 'PGGSSLIB',
  gssdelegation: 'PGGSSDELEGATION',
  service: 'PGSERVICE',
  servicefile: 'PGSERVICEFILE',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  load_balance_hosts: 'PGLOADBALANCEHOSTS',
  oauth_issuer: null,
  oauth_client_id: null,
  oauth_client_secret: null,
  oauth_scope: null,
  scram_client_key: null,
  scram_server_key: null,
};

/** Keywords whose values are never printed. */
const SECRET_KEYWORDS = new Set(['password', 'sslpassword', 'oauth_client_secret', 'scram_client_key', 'scram_server_key']);

/** Variables that name a server, a database or a user: with none of them (and no connection string) nothing was given. */
const TARGET_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];

/** libpq's session defaults from the environment, sent as startup settings. */
const SESSION_VARIABLES: [string, string][] = [
  ['PGDATESTYLE', 'datestyle'],
  ['PGTZ', 'timezone'],
  ['PGGEQO', 'geqo'],
];

export const NO_DATABASE_MESSAGE =
  'no database was given: pass --database-url postgres://user@host:5432/dbname, or set DATABASE_URL, or PGHOST and PGDATABASE (or PGSERVICE)';

/** Where to connect, as libpq would resolve it; the password is kept apart from anything printable. */
export interface ConnectionTarget {
  /** The server's name: in messages and for TLS name checking. A socket directory when it starts with '/'. */
  host: string;
  /** hostaddr: the numeric address actually connected to, when given (TCP). */
  hostaddr?: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  /** The passfile the password was read from, when it came from one. */
  passwordFile?: string;
  sslMode: SslMode;
  /** A file of CA certificates, or `system` for the trusted roots; verified against whenever it exists. */
  sslRootCert: string | undefined;
  sslCert?: string;
  sslKey?: string;
  sslPassword?: string;
  sslCrl?: string;
  sslCrlDir?: string;
  sslCertMode?: 'allow' | 'disable';
  /** False: no SNI (possible only when connecting to a hostaddr). */
  sslSni?: boolean;
  sslMinProtocol?: TlsVersion;
  sslMaxProtocol?: TlsVersion;
  sslNegotiation?: 'postgres' | 'direct';
  connectTimeoutSec: number;
  /** The user's application_name (keyword, service or PGAPPNAME); it wins over the fallback. */
  applicationName: string | undefined;
  /** Sent when the user gave no application_name: the user's fallback_application_name, else the tool's. */
  fallbackApplicationName?: string;
  /** The user's `options` (PGOPTIONS), passed through as the startup options. */
  options?: string;
  /** Startup settings from PGDATESTYLE, PGTZ, PGGEQO. */
  sessionSettings?: [string, string][];
  keepAlive?: boolean;
  keepAliveIdleSec?: number;
  channelBinding?: ChannelBinding;
  requireAuth?: { text: string; negated: boolean; methods: AuthMethod[] };
  targetSessionAttrs?: TargetSessionAttrs;
  /** One line each, for stderr (e.g. a passfile that was ignored for its permissions). */
  warnings?: string[];
  /** Where the settings came from, for error messages. */
  source: 'url' | 'DATABASE_URL' | 'environment';
}

export interface ResolveInput {
  databaseUrl: string | undefined;
  env: NodeJS.ProcessEnv;
  /** From --connect-timeout; when absent, connect_timeout in the URL, PGCONNECT_TIMEOUT, then 10. */
  connectTimeoutSec: number | undefined;
  /** The tool's name: sent as the fallback_application_name, so the user's application_name wins. */
  applicationName: string;
}

interface Found {
  value: string;
  /** How to name the setting in a message, e.g. `gssencmode=require in --database-url` or `PGGSSENCMODE=require`. */
  label: string;
}

const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v !== '' ? v : undefined);

/**
 * --database-url, else DATABASE_URL, else the libpq variables, with psql's precedence for each setting:
 * the connection string, then the service it names (PGSERVICE), then the PG* variables, then the
 * defaults. An empty --database-url or DATABASE_URL, or nothing at all, is an error: never local defaults.
 */
export function resolveConnection(input: ResolveInput): ConnectionTarget {
  const env = input.env;
  const given = givenString(input);
  if (!given && !TARGET_VARIABLES.some((v) => nonEmpty(env[v]))) throw new UsageError(NO_DATABASE_MESSAGE);
  const settings = given ? parseConnectionString(given.text, given.origin) : new Map<string, string>();
  const home = nonEmpty(env.HOME) ?? safeHomeDir();
  const warnings: string[] = [];

  const fromStringOrEnv = (key: string): Found | undefined => {
    const s = nonEmpty(settings.get(key));
    if (s !== undefined) return { value: s, label: labelOf(key, s, `in ${given?.origin}`) };
    const envName = LIBPQ_KEYWORDS[key];
    const e = envName ? nonEmpty(env[envName]) : undefined;
    return e !== undefined && envName ? { value: e, label: SECRET_KEYWORDS.has(key) ? envName : `${envName}=${e}` } : undefined;
  };
  const serviceName = fromStringOrEnv('service');
  const service = serviceName ? loadService(serviceName, fromStringOrEnv('servicefile'), env, home) : undefined;

  const lookup = (key: string): Found | undefined => {
    const s = nonEmpty(settings.get(key));
    if (s !== undefined) return { value: s, label: labelOf(key, s, `in ${given?.origin}`) };
    const v = nonEmpty(service?.values.get(key));
    if (v !== undefined && service) return { value: v, label: labelOf(key, v, `in service "${service.name}" (${service.file})`) };
    return fromStringOrEnv(key);
  };
  const pick = (key: string) => lookup(key)?.value;
  const fail = (found: Found, why: string): never => {
    throw new UsageError(`${found.label}: ${why}`);
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const found = lookup(key);
    if (!found) return fallback;
    const v = found.value.trim().toLowerCase() as T;
    if (!allowed.includes(v)) fail(found, `invalid value for ${key}: use one of ${allowed.join(', ')}`);
    return v;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const found = lookup(key);
    if (!found) return fallback;
    if (!/^\s*\d+\s*$/.test(found.value)) fail(found, `${key} must be 0 or 1`);
    return Number(found.value) !== 0;
  };
  const seconds = (key: string): number | undefined => {
    const found = lookup(key);
    if (!found) return undefined;
    if (!/^\s*\d+\s*$/.test(found.value)) fail(found, `${key} must be a whole number of seconds`);
    return Number(found.value);
  };

  // Keywords node-pg cannot honour: rejected by name rather than ignored.
  rejectUnsupported(lookup, fail);

  for (const key of ['host', 'hostaddr', 'port']) {
    const found = lookup(key);
    if (found?.value.includes(',')) {
      fail(found, 'several hosts are given; integrity connects to one: give a single host (a replica, for the nightly audit)');
    }
  }

  const portText = pick('port') ?? '5432';
  const port = Number(portText);
  if (!/^\s*\d+\s*$/.test(portText) || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(portText)}: give a number between 1 and 65535`);
  }
  const hostaddrFound = lookup('hostaddr');
  const hostaddr = hostaddrFound?.value.trim();
  if (hostaddrFound && hostaddr !== undefined && net.isIP(hostaddr) === 0) {
    fail(hostaddrFound, 'hostaddr must be a numeric IP address (give a host name as host=)');
  }
  const hostFound = lookup('host');
  if (hostFound?.value.startsWith('@')) fail(hostFound, 'abstract Unix sockets (a host starting with @) are not supported by node-pg; give a socket directory or a TCP host');
  const explicitHost = hostFound?.value;
  const host = explicitHost ?? hostaddr ?? defaultHost(port);
  const user = pick('user') ?? safeOsUser();
  const database = pick('dbname') ?? user;

  const rootCertFound = lookup('sslrootcert');
  const sslRootCert = rootCertFound?.value ?? path.join(home, '.postgresql', 'root.crt');
  const sslModeFound = lookup('sslmode');
  const sslModeText = (sslModeFound?.value ?? (sslRootCert === 'system' ? 'verify-full' : 'prefer')).trim().toLowerCase();
  if (!SSL_MODES.includes(sslModeText as SslMode)) {
    throw new UsageError(`invalid sslmode ${JSON.stringify(sslModeText)}: use one of ${SSL_MODES.join(', ')}`);
  }
  const sslMode = sslModeText as SslMode;
  if (sslRootCert === 'system' && sslMode !== 'verify-full' && sslModeFound) {
    fail(sslModeFound, 'sslrootcert=system verifies against the trusted roots and needs sslmode=verify-full, as in libpq');
  }

  const timeoutFound = lookup('connect_timeout');
  const connectTimeoutSec = input.connectTimeoutSec ?? (timeoutFound !== undefined ? Number(timeoutFound.value) : 10);
  if (!Number.isFinite(connectTimeoutSec) || connectTimeoutSec <= 0) {
    throw new UsageError(`invalid connect_timeout ${JSON.stringify(timeoutFound?.value)}: give a number of seconds above 0`);
  }

  const sslNegotiation = oneOf('sslnegotiation', ['postgres', 'direct'] as const, 'postgres');
  if (sslNegotiation === 'direct' && !['require', 'verify-ca', 'verify-full'].includes(sslMode)) {
    fail(lookup('sslnegotiation') as Found, `sslnegotiation=direct needs sslmode=require, verify-ca or verify-full (not ${sslMode}), as in libpq`);
  }
  const sslMinProtocol = tlsVersion(lookup('ssl_min_protocol_version'), fail);
  const sslMaxProtocol = tlsVersion(lookup('ssl_max_protocol_version'), fail);
  if (sslMinProtocol && sslMaxProtocol && TLS_VERSIONS.indexOf(sslMinProtocol) > TLS_VERSIONS.indexOf(sslMaxProtocol)) {
    fail(lookup('ssl_min_protocol_version') as Found, `ssl_min_protocol_version is above ssl_max_protocol_version (${sslMaxProtocol})`);
  }
  const sslSni = flag('sslsni', true);
  if (!sslSni && !hostaddr && net.isIP(host) === 0 && !isSocketHost(host)) {
    fail(lookup('sslsni') as Found, 'node-pg always sends the host name as SNI; to connect without it give hostaddr= with the server\'s address as well');
  }
  const certFound = lookup('sslcert');
  const defaultCert = path.join(home, '.postgresql', 'postgresql.crt');
  const sslCert = certFound?.value ?? (isFile(defaultCert) ? defaultCert : undefined);
  const sslKey = pick('sslkey') ?? path.join(home, '.postgresql', 'postgresql.key');
  const defaultCrl = path.join(home, '.postgresql', 'root.crl');
  const sslCrl = pick('sslcrl') ?? (isFile(defaultCrl) ? defaultCrl : undefined);

  // Only `disable` and `prefer` need no GSSAPI; `require` is rejected in rejectUnsupported.
  oneOf('gssencmode', ['disable', 'prefer', 'require'] as const, 'prefer');
  oneOf('load_balance_hosts', ['disable', 'random'] as const, 'disable');
  flag('sslcompression', false); // ignored by libpq since PostgreSQL 14, as here

  const clientEncoding = lookup('client_encoding');
  if (clientEncoding && !/^(utf-?8|unicode|auto)$/i.test(clientEncoding.value.trim())) {
    fail(clientEncoding, 'node-pg reads and writes text as UTF-8 only: use client_encoding=UTF8 (integrity always asks for it)');
  }

  const keepAlive = flag('keepalives', true);
  const keepAliveIdleSec = seconds('keepalives_idle');
  const requireAuth = parseRequireAuth(lookup('require_auth'), fail);
  const channelBinding = oneOf('channel_binding', ['disable', 'prefer', 'require'] as const, 'prefer');
  const targetSessionAttrs = oneOf('target_session_attrs', TARGET_SESSION_ATTRS, 'any');
  const sessionSettings = SESSION_VARIABLES.flatMap(([envName, setting]): [string, string][] => {
    const v = nonEmpty(env[envName]);
    return v === undefined ? [] : [[setting, v]];
  });

  let password = pick('password');
  let passwordFile: string | undefined;
  if (password === undefined) {
    const file = pick('passfile') ?? path.join(home, '.pgpass');
    // libpq matches the host keyword, else hostaddr, else localhost (also for its default socket directory).
    const pwHost = explicitHost !== undefined ? (DEFAULT_SOCKET_DIRS.includes(explicitHost) ? 'localhost' : explicitHost) : (hostaddr ?? 'localhost');
    password = passwordFromFile(file, { host: pwHost, port: String(port), database, user }, warnings);
    if (password !== undefined) passwordFile = file;
  }

  const target: ConnectionTarget = {
    host,
    port,
    database,
    user,
    password,
    sslMode,
    sslRootCert,
    connectTimeoutSec,
    applicationName: pick('application_name'),
    fallbackApplicationName: pick('fallback_application_name') ?? input.applicationName,
    source: given?.source ?? 'environment',
  };
  const optional: Partial<ConnectionTarget> = {
    hostaddr,
    passwordFile,
    sslCert,
    sslKey: sslCert ? sslKey : undefined,
    sslPassword: pick('sslpassword'),
    sslCrl,
    sslCrlDir: pick('sslcrldir'),
    sslCertMode: oneOf('sslcertmode', ['allow', 'disable', 'require'] as const, 'allow') === 'disable' ? 'disable' : undefined,
    sslSni: sslSni ? undefined : false,
    sslMinProtocol,
    sslMaxProtocol,
    sslNegotiation: sslNegotiation === 'direct' ? 'direct' : undefined,
    options: pick('options'),
    sessionSettings: sessionSettings.length > 0 ? sessionSettings : undefined,
    keepAlive: keepAlive ? undefined : false,
    keepAliveIdleSec,
    channelBinding: channelBinding === 'prefer' ? undefined : channelBinding,
    requireAuth,
    targetSessionAttrs: targetSessionAttrs === 'any' ? undefined : targetSessionAttrs,
    warnings: warnings.length > 0 ? warnings : undefined,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (target as unknown as Record<string, unknown>)[k] = v;
  return target;
}

/** The connection string given, if any; an empty one (an unset CI secret) is an error, never a fall-through. */
function givenString(input: ResolveInput): { text: string; origin: string; source: ConnectionTarget['source'] } | undefined {
  if (input.databaseUrl !== undefined) {
    const text = input.databaseUrl.trim();
    if (!text) {
      throw new UsageError(
        '--database-url is empty, so no database was given (an unset CI secret?): pass a connection string such as postgres://user@host:5432/dbname',
      );
    }
    return { text, origin: '--database-url', source: 'url' };
  }
  const fromEnv = input.env.DATABASE_URL;
  if (fromEnv !== undefined) {
    const text = fromEnv.trim();
    if (!text) {
      throw new UsageError(
        'DATABASE_URL is set but empty, so no database was given (an unset CI secret?): set it to a connection string such as postgres://user@host:5432/dbname, or unset it to use the PG* variables',
      );
    }
    return { text, origin: 'DATABASE_URL', source: 'DATABASE_URL' };
  }
  return undefined;
}

function labelOf(key: string, value: string, where: string): string {
  return SECRET_KEYWORDS.has(key) ? `${key} ${where}` : `${key}=${value} ${where}`;
}

/** The keywords (and values) node-pg has no way to honour. */
function rejectUnsupported(lookup: (key: string) => Found | undefined, fail: (found: Found, why: string) => never): void {
  const check = (key: string, accept: (v: string) => boolean, why: string) => {
    const found = lookup(key);
    if (found && !accept(found.value.trim().toLowerCase())) fail(found, why);
  };
  const never = () => false;
  const falsy = (v: string) => ['0', 'false', 'off', 'no'].includes(v);
  check('gssencmode', (v) => v !== 'require', 'integrity connects through node-pg, which has no GSSAPI encryption: use gssencmode=prefer or disable, and sslmode for encryption');
  check('krbsrvname', never, 'integrity connects through node-pg, which cannot authenticate with Kerberos/GSSAPI; use password, SCRAM or certificate authentication');
  check('gsslib', never, 'integrity connects through node-pg, which cannot authenticate with GSSAPI/SSPI; use password, SCRAM or certificate authentication');
  check('gssdelegation', (v) => v === '0', 'integrity connects through node-pg, which has no GSSAPI, so there are no credentials to delegate; remove it');
  check('requirepeer', never, 'node-pg cannot read the peer credentials of a Unix socket, so the server process owner cannot be checked; remove it, or connect over TCP with sslmode=verify-full');
  check('requiressl', never, 'requiressl is obsolete: use sslmode=require');
  check('sslcertmode', (v) => v !== 'require', 'node-pg cannot tell whether the server asked for the client certificate: use sslcertmode=allow (with sslcert and sslkey) or disable');
  check('sslkeylogfile', never, 'integrity does not write TLS key logs; remove it');
  check('keepalives_interval', never, 'Node.js cannot set the interval between TCP keepalive probes (only keepalives and keepalives_idle); remove it');
  check('keepalives_count', never, 'Node.js cannot set the number of TCP keepalive probes (only keepalives and keepalives_idle); remove it');
  check('tcp_user_timeout', (v) => v === '0', 'Node.js cannot set TCP_USER_TIMEOUT; remove it (connect_timeout and --statement-timeout bound the audit)');
  check('replication', falsy, 'an audit runs queries in a normal session, not on a replication connection; remove it');
  check('min_protocol_version', (v) => v === '3.0', 'node-pg speaks protocol version 3.0 only: use min_protocol_version=3.0 or remove it');
  check('max_protocol_version', (v) => ['3.0', '3.2', 'latest'].includes(v), 'invalid value for max_protocol_version: use 3.0, 3.2 or latest');
  for (const key of ['oauth_issuer', 'oauth_client_id', 'oauth_client_secret', 'oauth_scope']) {
    check(key, never, 'node-pg cannot authenticate with OAuth; use password, SCRAM or certificate authentication');
  }
  for (const key of ['scram_client_key', 'scram_server_key']) {
    check(key, never, 'SCRAM keys are passed between PostgreSQL servers (postgres_fdw, dblink), not given by hand; use password');
  }
}

function tlsVersion(found: Found | undefined, fail: (found: Found, why: string) => never): TlsVersion | undefined {
  if (!found) return undefined;
  const version = TLS_VERSIONS.find((v) => v.toLowerCase() === found.value.trim().toLowerCase());
  return version ?? fail(found, `invalid TLS version: use one of ${TLS_VERSIONS.join(', ')}`);
}

function parseRequireAuth(found: Found | undefined, fail: (found: Found, why: string) => never): ConnectionTarget['requireAuth'] {
  if (!found) return undefined;
  const items = found.value.split(',').map((s) => s.trim().toLowerCase());
  const negated = items[0]?.startsWith('!') ?? false;
  const methods: AuthMethod[] = [];
  for (const item of items) {
    if (item.startsWith('!') !== negated) fail(found, 'negative require_auth methods (!method) cannot be mixed with positive ones');
    const method = item.replace(/^!/, '') as AuthMethod;
    if (!AUTH_METHODS.includes(method)) fail(found, `invalid require_auth method ${JSON.stringify(method)}: use ${AUTH_METHODS.join(', ')}, each optionally negated with !`);
    methods.push(method);
  }
  return { text: found.value, negated, methods };
}

/** Accepts a postgres:// URL or a libpq key=value string, as psql does; every keyword must be one libpq knows. */
export function parseConnectionString(text: string, origin: string): Map<string, string> {
  let out: Map<string, string>;
  if (/^postgres(ql)?:\/\//i.test(text)) out = parseUrl(text, origin);
  else if (/^\s*\w+\s*=/.test(text)) out = parseKeywordValue(text, origin);
  else {
    throw new UsageError(
      `${origin} is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."`,
    );
  }
  for (const key of out.keys()) assertKnownKeyword(key, origin);
  return out;
}

/** A keyword libpq does not know, e.g. a typo such as dbnmae: exit 2 naming it and the nearest known keyword. */
function assertKnownKeyword(key: string, where: string): void {
  if (Object.hasOwn(LIBPQ_KEYWORDS, key)) return;
  throw new UsageError(`unknown connection option ${JSON.stringify(key)} in ${where}; did you mean ${nearestKeyword(key)}?`);
}

export function nearestKeyword(key: string): string {
  let best = 'dbname';
  let bestDistance = Infinity;
  for (const candidate of Object.keys(LIBPQ_KEYWORDS)) {
    // A keyword the text begins (e.g. ssl, sslmode) is as near as a one-letter typo.
    const d = candidate.startsWith(key.toLowerCase()) ? 1 : editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
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
    const value = decode(pair.slice(eq + 1));
    // libpq's one JDBC spelling: ssl=true is sslmode=require.
    if (key === 'ssl' && value === 'true') out.set('sslmode', 'require');
    else out.set(key === 'database' ? 'dbname' : key, value);
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

/** libpq's system configuration directory as Debian and Ubuntu build it; PGSYSCONFDIR overrides it. */
const DEFAULT_SYSCONFDIR = '/etc/postgresql-common';

/**
 * The `[name]` section of the connection service file: servicefile (PGSERVICEFILE) or ~/.pg_service.conf,
 * then PGSYSCONFDIR/pg_service.conf, as libpq reads them. A service defined in neither is an error.
 */
function loadService(
  name: Found,
  servicefile: Found | undefined,
  env: NodeJS.ProcessEnv,
  home: string,
): { name: string; file: string; values: Map<string, string> } {
  const userFile = servicefile?.value ?? path.join(home, '.pg_service.conf');
  const sysFile = path.join(nonEmpty(env.PGSYSCONFDIR) ?? DEFAULT_SYSCONFDIR, 'pg_service.conf');
  for (const file of [userFile, sysFile]) {
    if (!isFile(file)) continue;
    const values = readServiceSection(file, name.value);
    if (values) return { name: name.value, file, values };
  }
  throw new UsageError(
    `${name.label}: no service ${JSON.stringify(name.value)} in ${userFile} or ${sysFile}; add a [${name.value}] section, or set PGSERVICEFILE to the file that has it`,
  );
}

function readServiceSection(file: string, name: string): Map<string, string> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read service file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let inSection = false;
  let found = false;
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      if (found && inSection) break;
      inSection = section[1] === name;
      found ||= inSection;
      continue;
    }
    if (!inSection) continue;
    const eq = line.indexOf('=');
    const where = `service file ${file} line ${i + 1}`;
    if (eq < 0) throw new UsageError(`${where}: expected key=value`);
    const key = line.slice(0, eq).trim();
    if (key === 'service' || key === 'servicefile') throw new UsageError(`${where}: a service cannot name another ${key}`);
    assertKnownKeyword(key, where);
    // The first setting of a keyword wins, as in libpq.
    if (!values.has(key)) values.set(key, line.slice(eq + 1).trim());
  }
  return found ? values : null;
}

/** Socket directories libpq treats as its default (Debian's and upstream's): `localhost` in the passfile. */
const DEFAULT_SOCKET_DIRS = ['/var/run/postgresql', '/run/postgresql', '/tmp'];

/**
 * The password for this connection from a passfile (hostname:port:database:username:password, `*`
 * matching anything, `\` escaping `:` and `\`), as libpq reads it; the first matching line wins. A file
 * that is missing is skipped silently, one readable by others is skipped with a warning, as in libpq.
 */
export function passwordFromFile(
  file: string,
  want: { host: string; port: string; database: string; user: string },
  warnings: string[],
): string | undefined {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    return undefined;
  }
  if (!stat.isFile()) {
    warnings.push(`password file ${file} is not a plain file; it is ignored`);
    return undefined;
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    warnings.push(`password file ${file} has group or world access; permissions should be u=rw (0600) or less; it is ignored`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '' || raw.startsWith('#')) continue;
    const fields: string[] = [''];
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i] as string;
      if (ch === '\\' && i + 1 < raw.length) fields[fields.length - 1] += raw[++i] as string;
      else if (ch === ':' && fields.length < 5) fields.push('');
      else fields[fields.length - 1] += ch;
    }
    if (fields.length < 5) continue;
    const [h, p, d, u, pw] = fields as [string, string, string, string, string];
    const match = (pattern: string, value: string) => pattern === '*' || pattern === value;
    if (match(h, want.host) && match(p, want.port) && match(d, want.database) && match(u, want.user)) return pw === '' ? undefined : pw;
  }
  return undefined;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function safeOsUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

function safeHomeDir(): string {
  try {
    return os.homedir();
  } catch {
    return '/';
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

/** Whether the connection goes over a Unix socket (a hostaddr always means TCP). */
function usesSocket(target: ConnectionTarget): boolean {
  return !target.hostaddr && isSocketHost(target.host);
}

/** A value inside the startup `options`: spaces and backslashes escaped, as the server splits on spaces. */
function optionValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/ /g, '\\ ');
}

/** The pg client settings for one attempt; `withSsl` chooses between the two tries of sslmode=prefer/allow. */
export function clientConfig(target: ConnectionTarget, withSsl: boolean): ClientConfig {
  // node-pg decodes everything as UTF-8 but does not ask the server for it; ask, whatever the database's encoding.
  const options = [
    '-c client_encoding=UTF8',
    ...(target.sessionSettings ?? []).map(([name, value]) => `-c ${name}=${optionValue(value)}`),
    ...(target.options ? [target.options] : []),
  ].join(' ');
  return {
    host: target.hostaddr ?? target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    application_name: target.applicationName,
    fallback_application_name: target.fallbackApplicationName ?? 'integrity',
    options,
    keepAlive: target.keepAlive ?? true,
    ...(target.keepAliveIdleSec !== undefined ? { keepAliveInitialDelayMillis: target.keepAliveIdleSec * 1000 } : {}),
    connectionTimeoutMillis: Math.round(target.connectTimeoutSec * 1000),
    enableChannelBinding: target.channelBinding !== 'disable',
    sslnegotiation: withSsl ? (target.sslNegotiation ?? 'postgres') : 'postgres',
    ssl: withSsl ? sslOptions(target) : false,
  };
}

function readSetting(file: string, keyword: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${keyword} ${file}${code ? ` (${code})` : ''}; give the path of ${what}`);
  }
}

/**
 * TLS settings as libpq applies them: the server's chain is verified whenever a root certificate file
 * exists (sslmode=require then behaves as verify-ca, as in libpq), or with sslrootcert=system; the host
 * name only for verify-full. verify-ca and verify-full without a root certificate are an error.
 */
function sslOptions(target: ConnectionTarget): ConnectionOptions {
  const verifying = target.sslMode === 'verify-ca' || target.sslMode === 'verify-full';
  const options: ConnectionOptions = {};
  let verifyChain = false;
  if (target.sslRootCert === 'system') {
    verifyChain = true; // Node.js's trusted roots
  } else if (target.sslRootCert && existsSync(target.sslRootCert)) {
    options.ca = readSetting(target.sslRootCert, 'sslrootcert', "the server's CA certificate");
    verifyChain = true;
  } else if (verifying) {
    throw new UsageError(
      `cannot read sslrootcert ${target.sslRootCert ?? '(none given)'}; give the path of the server's CA certificate, or sslrootcert=system for the trusted roots, or use an sslmode that does not verify`,
    );
  }
  if (verifyChain) {
    options.rejectUnauthorized = true;
    // Only verify-full checks the host name; verify-ca (and require with a root certificate) the chain.
    if (target.sslMode !== 'verify-full') options.checkServerIdentity = () => undefined;
    const crls: string[] = [];
    if (target.sslCrl) crls.push(readSetting(target.sslCrl, 'sslcrl', 'a certificate revocation list'));
    if (target.sslCrlDir) {
      let names: string[];
      try {
        names = readdirSync(target.sslCrlDir);
      } catch {
        throw new UsageError(`cannot read sslcrldir ${target.sslCrlDir}; give a directory of certificate revocation lists`);
      }
      for (const name of names.sort()) {
        const file = path.join(target.sslCrlDir, name);
        if (isFile(file)) crls.push(readSetting(file, 'sslcrldir file', 'a certificate revocation list'));
      }
    }
    if (crls.length > 0) options.crl = crls;
  } else {
    // require, prefer and allow without a root certificate encrypt without verifying, as libpq does.
    options.rejectUnauthorized = false;
  }
  if (target.sslCert && target.sslCertMode !== 'disable') {
    options.cert = readSetting(target.sslCert, 'sslcert', 'the client certificate');
    const keyFile = target.sslKey ?? path.join(path.dirname(target.sslCert), 'postgresql.key');
    assertPrivateKeyFile(keyFile);
    options.key = readSetting(keyFile, 'sslkey', "the client certificate's private key");
    if (target.sslPassword !== undefined) options.passphrase = target.sslPassword;
  }
  if (target.sslMinProtocol) options.minVersion = target.sslMinProtocol;
  if (target.sslMaxProtocol) options.maxVersion = target.sslMaxProtocol;
  if (target.hostaddr && !isSocketHost(target.host)) {
    // Connected to an address: the certificate is checked against the host name, which is also the SNI.
    options.host = target.host;
    if (target.sslSni !== false && net.isIP(target.host) === 0) options.servername = target.host;
  }
  return options;
}

/** libpq refuses a private key others can read: u=rw (0600) when the user owns it, u=rw,g=r (0640) when root does. */
function assertPrivateKeyFile(file: string): void {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read sslkey ${file}${code ? ` (${code})` : ''}; give the path of the client certificate's private key`);
  }
  if (!stat.isFile()) throw new UsageError(`sslkey ${file} is not a plain file; give the path of the client certificate's private key`);
  if (process.platform === 'win32') return;
  const loose = stat.uid === 0 ? (stat.mode & 0o037) !== 0 : (stat.mode & 0o077) !== 0;
  if (loose) {
    throw new UsageError(
      `private key file ${file} has group or world access; it must have permissions u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root`,
    );
  }
}

/** The order of attempts libpq makes for each sslmode (sockets never use SSL). */
export function sslAttempts(target: ConnectionTarget): boolean[] {
  if (usesSocket(target)) return [false];
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

/**
 * Whether libpq would try the other way after this failure: sslmode=prefer tries without SSL when the
 * server refused it, the TLS handshake failed or the server rejected the SSL session; sslmode=allow
 * tries with SSL when the server rejected the plain one. A timeout or an unreachable host is final.
 */
export function triesOtherWay(err: unknown, withSsl: boolean, sslMode: SslMode): boolean {
  if (err instanceof ConnectionRequirementError || err instanceof UsageError) return false;
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = err instanceof Error ? err.message : String(err);
  const serverError = /^[0-9A-Z]{5}$/.test(code) && !/^E[A-Z]+$/.test(code);
  if (sslMode === 'prefer' && withSsl) {
    const tlsFailure = /^ERR_(SSL|TLS)_|CERT|SELF_SIGNED|UNABLE_TO_|^EPROTO$/.test(code) || /does not support SSL|establishing an SSL connection|certificate/i.test(message);
    return serverError || tlsFailure;
  }
  if (sslMode === 'allow' && !withSsl) return serverError;
  return false;
}

/** A requirement of the connection string that the server did not meet (require_auth, channel_binding, target_session_attrs): final. */
export class ConnectionRequirementError extends Error {
  override name = 'ConnectionRequirementError';
}

const METHOD_WORDS: Record<AuthMethod, string> = {
  password: 'a cleartext password',
  md5: 'an MD5 password',
  'scram-sha-256': 'SCRAM-SHA-256 authentication',
  gss: 'GSSAPI authentication',
  sspi: 'SSPI authentication',
  none: 'no authentication',
};

/**
 * What require_auth and channel_binding=require allow, checked as the server asks (before any password
 * is sent) and once it has accepted the client; also supplies the password, or says none was given.
 * `watch` must be called before the client connects.
 */
export function authenticationGuard(target: ConnectionTarget, withSsl: boolean) {
  let asked: { method: AuthMethod; mechanisms: string[] } | null = null;
  /** The SASL mechanism node-pg chose, seen when the server continues the exchange. */
  let mechanism: string | undefined;
  const allowed = (method: AuthMethod) => {
    const r = target.requireAuth;
    if (r && r.methods.includes(method) === r.negated) {
      throw new ConnectionRequirementError(`require_auth=${r.text}, but the server ${method === 'none' ? 'did not ask the client to authenticate' : `asked for ${METHOD_WORDS[method]}`}`);
    }
    if (target.channelBinding === 'require') {
      if (method !== 'scram-sha-256') {
        throw new ConnectionRequirementError(
          `channel_binding=require, but the server ${method === 'none' ? 'authenticated the client without channel binding' : `asked for ${METHOD_WORDS[method]}, which has no channel binding`}`,
        );
      }
      if (!withSsl || !asked?.mechanisms.includes('SCRAM-SHA-256-PLUS')) {
        throw new ConnectionRequirementError('channel_binding=require, but the server does not offer SCRAM-SHA-256-PLUS (channel binding needs an SSL connection)');
      }
    }
  };
  return {
    watch(client: { connection: { on(event: string, listener: (msg: { mechanisms?: string[] }) => void): unknown }; saslSession?: { mechanism?: string } | null }): void {
      const connection = client.connection;
      connection.on('authenticationCleartextPassword', () => (asked = { method: 'password', mechanisms: [] }));
      connection.on('authenticationMD5Password', () => (asked = { method: 'md5', mechanisms: [] }));
      connection.on('authenticationSASL', (msg) => (asked = { method: 'scram-sha-256', mechanisms: msg.mechanisms ?? [] }));
      connection.on('authenticationSASLContinue', () => (mechanism = client.saslSession?.mechanism));
    },
    /** node-pg calls it when the server asks for a password, after `watch` has seen the request. */
    password: async (): Promise<string> => {
      allowed(asked?.method ?? 'password');
      if (target.password === undefined) {
        throw new ConnectionRequirementError(
          `the server asks for a password for user ${target.user} and none was given: put it in the connection string, PGPASSWORD or a passfile (~/.pgpass)`,
        );
      }
      return target.password;
    },
    /** Once the server has accepted the client: a server that asked for nothing is authentication `none`. */
    authenticated(): void {
      if (!asked) allowed('none');
      else if (target.channelBinding === 'require' && asked.method === 'scram-sha-256' && mechanism !== 'SCRAM-SHA-256-PLUS') {
        throw new ConnectionRequirementError(`channel_binding=require, but the client authenticated with ${mechanism ?? 'an unknown mechanism'} instead of SCRAM-SHA-256-PLUS`);
      }
    },
  };
}

/** Why a server does not have the target_session_attrs asked for, or null; as libpq checks after connecting. */
export function sessionAttributesMismatch(want: TargetSessionAttrs | undefined, server: { inRecovery: boolean; readOnly: boolean }): string | null {
  switch (want) {
    case 'read-write':
      return server.readOnly ? 'target_session_attrs=read-write, but the session is read-only (transaction_read_only is on)' : null;
    case 'read-only':
      return server.readOnly ? null : 'target_session_attrs=read-only, but the session is read-write (transaction_read_only is off)';
    case 'primary':
      return server.inRecovery ? 'target_session_attrs=primary, but the server is a standby (pg_is_in_recovery() is true)' : null;
    case 'standby':
      return server.inRecovery ? null : 'target_session_attrs=standby, but the server is a primary (pg_is_in_recovery() is false)';
    default:
      // any, and prefer-standby with one host: whatever the server is.
      return null;
  }
}

/** A description of the target that is safe to print anywhere: never the password. */
export function describeTarget(target: ConnectionTarget): string {
  if (target.hostaddr && target.hostaddr !== target.host) {
    return `${target.user}@${target.host} (hostaddr ${target.hostaddr}):${target.port}/${target.database}`;
  }
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

/**
 * Settings for a plain node-pg client on a postgres:// URL of the tool's own (the demo's and the tests'
 * fixtures, `integrity/testing`'s server): a password the URL lacks is looked up as for an audit
 * (PGPASSWORD, then the passfile, as libpq does) and written into the URL. node-pg would read
 * ~/.pgpass itself, but that support is deprecated and prints a DeprecationWarning on every run.
 */
export function fixtureClientConfig(url: string, env: NodeJS.ProcessEnv = process.env): { connectionString: string } {
  if (!/^postgres(?:ql)?:\/\//i.test(url)) return { connectionString: url };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url };
  }
  if (parsed.password !== '') return { connectionString: url };
  let password: string | undefined;
  try {
    password = resolveConnection({ databaseUrl: url, env, connectTimeoutSec: undefined, applicationName: 'integrity' }).password;
  } catch {
    // A URL the audit would refuse is node-pg's to judge here, as before.
    return { connectionString: url };
  }
  if (password === undefined) return { connectionString: url };
  // Encoded whole: the setter leaves % alone, and node-pg decodes the userinfo once.
  parsed.password = encodeURIComponent(password);
  return { connectionString: parsed.toString() };
}
