import { parse, scan } from '@libpg-query/parser';
import { codeBeyondReading } from '../db/acting-functions.js';
import type { Queryable } from '../db/session.js';
import { userCodeFiredBy } from './side-effects.js';
import { WRITTEN_BY_HELPERS } from './quarantine.js';
import type { Repair, RepairStep } from './types.js';

type Json = Record<string, unknown>;

/** Statements that, by themselves, change no row: what they could run is judged apart (functions, triggers). */
const KEEPS_ROWS = new Set(['SelectStmt', 'InsertStmt', 'LockStmt', 'CreateStmt', 'CreateTableAsStmt', 'IndexStmt', 'CreateSchemaStmt', 'CommentStmt', 'ReindexStmt', 'AlterTableStmt']);
const ADDS_CONSTRAINTS = new Set(['AT_AddConstraint', 'AT_ValidateConstraint']);
/** A foreign key's ON DELETE / ON UPDATE that changes rows of the referencing table: cascade, set null, set default. */
const CHANGING_ACTIONS = new Set(['c', 'n', 'd']);

const NAMED: Record<string, string> = {
  DeleteStmt: 'DELETE removes rows without copying them to the quarantine',
  UpdateStmt: 'UPDATE changes rows without copying them to the quarantine',
  MergeStmt: 'MERGE changes rows without copying them to the quarantine',
  TruncateStmt: 'TRUNCATE removes every row',
  DropStmt: 'DROP removes an object and its data',
  TransactionStmt: "transaction control would end the script's transaction",
  VariableSetStmt: 'SET would change what the rest of the script means',
  DoStmt: 'a DO block runs code integrity cannot read',
  CallStmt: 'CALL runs a procedure integrity cannot read',
};

/** Every node of the tree under a key ending in `Stmt` (statements nested in WITH, CTAS, INSERT … SELECT). */
function statementsIn(node: unknown, out: [string, Json][] = []): [string, Json][] {
  if (Array.isArray(node)) for (const n of node) statementsIn(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (/^[A-Z]\w*Stmt$/.test(k) && v && typeof v === 'object') out.push([k, v as Json]);
      statementsIn(v, out);
    }
  }
  return out;
}

/**
 * Why a statement must be reviewed, or null. Every statement nested in it counts: a DELETE in a CTE of a
 * CREATE TABLE AS removes rows as surely as one on its own.
 */
async function reviewReason(stmt: Json, db: Queryable): Promise<string | null> {
  for (const [kind, body] of statementsIn(stmt)) {
    if (!KEEPS_ROWS.has(kind)) return NAMED[kind] ?? `${kind.replace(/Stmt$/, '')} is not a statement a repair may run unreviewed`;
    if (kind === 'InsertStmt' && (body as { onConflictClause?: { action?: string } }).onConflictClause?.action === 'ONCONFLICT_UPDATE') {
      return 'INSERT … ON CONFLICT DO UPDATE changes existing rows';
    }
    if (kind === 'AlterTableStmt') {
      for (const c of (body as { cmds?: { AlterTableCmd?: { subtype?: string; def?: { Constraint?: { contype?: string; fk_del_action?: string; fk_upd_action?: string } } } }[] }).cmds ?? []) {
        const cmd = c.AlterTableCmd;
        if (!ADDS_CONSTRAINTS.has(cmd?.subtype ?? '')) return `ALTER TABLE ${cmd?.subtype ?? ''} may change or lose data`;
        const con = cmd?.def?.Constraint;
        if (con?.contype === 'CONSTR_FOREIGN' && (CHANGING_ACTIONS.has(con.fk_del_action ?? '') || CHANGING_ACTIONS.has(con.fk_upd_action ?? ''))) {
          return 'a foreign key with ON DELETE/ON UPDATE CASCADE, SET NULL or SET DEFAULT would make later deletes change rows no quarantine copies';
        }
      }
    }
    if (kind === 'InsertStmt') {
      const rel = (body as { relation?: { schemaname?: string; relname?: string } }).relation;
      if (rel?.schemaname && rel.relname) {
        const fired = await userCodeFiredBy(db, [{ table: { schema: rel.schemaname, name: rel.relname }, event: 'insert' }]);
        if (fired.length > 0) return `the INSERT fires ${fired.join(', ')}, code integrity cannot read`;
      }
    }
  }
  const code = codeBeyondReading(stmt);
  return code.length > 0 ? `it runs code integrity cannot read, or that acts beyond the statement: ${code.join(', ')}` : null;
}

/**
 * psql replaces `:name`, `:'name'` and `:"name"` outside quotes with a variable's value before the server
 * sees the text: what the script sends could then differ from what was parsed here.
 */
async function psqlInterpolation(sql: string): Promise<string | null> {
  const tokens = ((await scan(sql)) as { tokens?: { start: number; end: number; text: string; tokenName: string }[] }).tokens ?? [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const t = tokens[i] as { start: number; end: number; text: string };
    const next = tokens[i + 1] as { start: number; text: string; tokenName: string };
    if (t.text === ':' && next.start === t.end && /^[A-Za-z_'"]/.test(next.text)) return `psql would replace ${t.text}${next.text} with a variable's value`;
  }
  return null;
}

/** Why a plugin's SQL must be reviewed, or the worst safety it may claim ('safe' or 'destructive'). */
async function verdictOn(sqlTexts: string[], db: Queryable): Promise<{ review: string } | 'safe' | 'destructive'> {
  let destructive = false;
  for (const text of sqlTexts) {
    // Statements integrity's own helpers wrote (the quarantine table and its DO guard, the move into
    // it) are ours to vouch for; a move makes the step destructive.
    let sql = text;
    for (const [written, effect] of WRITTEN_BY_HELPERS) {
      if (!sql.includes(written)) continue;
      sql = sql.split(written).join('\n');
      if (effect === 'moves-rows') destructive = true;
    }
    if (sql.trim() === '') continue;
    let stmts: { stmt: Json }[];
    try {
      stmts = ((await parse(sql)) as { stmts?: { stmt: Json }[] }).stmts ?? [];
    } catch {
      // psql meta-commands (\!, \i, ...) are not SQL: the server's grammar rejects them, so they land here.
      return { review: 'the SQL does not parse as PostgreSQL (it may hold a psql meta-command)' };
    }
    const interpolated = await psqlInterpolation(sql);
    if (interpolated) return { review: interpolated };
    for (const { stmt } of stmts) {
      const reason = await reviewReason(stmt, db);
      if (reason) return { review: reason };
    }
  }
  return destructive ? 'destructive' : 'safe';
}

/**
 * A plugin's repair, as the script may run it: each step's SQL is parsed, and a step that could lose a
 * row without its copy in the quarantine (a DELETE, UPDATE or MERGE not written by integrity's helpers,
 * at any depth; an INSERT that fires a trigger or rule; a foreign key that cascades), run code integrity
 * cannot read (a function or operator outside pg_catalog, DO, CALL), end the transaction, change settings,
 * or be changed by psql on its way (a meta-command, a variable) becomes `review`, commented out with the
 * reason, whatever the plugin claimed; a step that moves rows into the quarantine is at least
 * `destructive`. Built-in checks are held to the same rules by their own tests.
 */
export async function vetPluginRepair(repair: Repair, origin: string, db: Queryable): Promise<Repair> {
  const steps: RepairStep[] = [];
  for (const step of repair.steps) {
    const texts = step.phase === 'concurrent' ? [...(step.statements ?? [step.sql]), ...(step.verifyStatements ?? []), ...(step.guard ? [step.guard] : [])] : [step.sql];
    const verdict = await verdictOn(texts, db);
    if (typeof verdict === 'object') {
      if (step.safety === 'review') steps.push(step);
      else
        steps.push({
          ...step,
          safety: 'review',
          decision: `${step.decision ? `${step.decision}; ` : ''}integrity holds this step of ${origin} for review: ${verdict.review}`,
          ...(step.phase === 'concurrent' ? { phase: 'transaction' as const, statements: undefined, verifyStatements: undefined, guard: undefined } : {}),
        });
    } else if (verdict === 'destructive' && step.safety === 'safe') steps.push({ ...step, safety: 'destructive' });
    else steps.push(step);
  }
  return { ...repair, steps };
}
