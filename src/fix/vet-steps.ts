import { parse } from '@libpg-query/parser';
import { QUARANTINE_SCHEMA, WRITTEN_BY_HELPERS } from './quarantine.js';
import type { Repair, RepairStep } from './types.js';

type Json = Record<string, unknown>;

/** What a statement can do to rows, as far as the script's safety labels go. */
type Effect = 'keeps-rows' | 'quarantines-rows' | { review: string };

const KEEPS_ROWS = new Set(['SelectStmt', 'LockStmt', 'CreateStmt', 'CreateTableAsStmt', 'IndexStmt', 'CreateSchemaStmt', 'CommentStmt', 'ReindexStmt']);
const ADDS_CONSTRAINTS = new Set(['AT_AddConstraint', 'AT_ValidateConstraint']);

function kindOf(node: Json): string {
  return Object.keys(node)[0] ?? '';
}

/** Statements inside a WITH clause, which may write even when the outer statement does not. */
function cteStatements(stmt: Json): Json[] {
  const withClause = (stmt as { withClause?: { ctes?: { CommonTableExpr?: { ctequery?: Json } }[] } }).withClause;
  return (withClause?.ctes ?? []).flatMap((c) => (c.CommonTableExpr?.ctequery ? [c.CommonTableExpr.ctequery] : []));
}

function effectOf(node: Json): Effect {
  const kind = kindOf(node);
  const stmt = (node[kind] ?? {}) as Json;
  const inner = cteStatements(stmt).map(effectOf);
  const innerReview = inner.find((e): e is { review: string } => typeof e === 'object');
  if (kind === 'InsertStmt') {
    const target = (stmt as { relation?: { schemaname?: string } }).relation?.schemaname;
    if ((stmt as { onConflictClause?: { action?: string } }).onConflictClause?.action === 'ONCONFLICT_UPDATE') return { review: 'INSERT … ON CONFLICT DO UPDATE changes existing rows' };
    const deletes = cteStatements(stmt).filter((c) => kindOf(c) === 'DeleteStmt');
    // moveToQuarantine's shape: the deleted rows go, in the same statement, into the quarantine.
    if (deletes.length > 0 && target === QUARANTINE_SCHEMA && deletes.length === cteStatements(stmt).length) return 'quarantines-rows';
    return innerReview ?? (inner.length > 0 ? { review: 'a WITH clause that writes' } : 'keeps-rows');
  }
  if (KEEPS_ROWS.has(kind)) return innerReview ?? (inner.length > 0 && kind === 'SelectStmt' && inner.some((e) => e !== 'keeps-rows') ? { review: 'a WITH clause that writes' } : 'keeps-rows');
  if (kind === 'AlterTableStmt') {
    const cmds = ((stmt as { cmds?: { AlterTableCmd?: { subtype?: string } }[] }).cmds ?? []).map((c) => c.AlterTableCmd?.subtype ?? '');
    return cmds.every((c) => ADDS_CONSTRAINTS.has(c)) ? 'keeps-rows' : { review: `ALTER TABLE ${cmds.join(', ')}` };
  }
  const what: Record<string, string> = {
    DeleteStmt: 'DELETE removes rows without copying them to the quarantine',
    UpdateStmt: 'UPDATE changes rows without copying them to the quarantine',
    MergeStmt: 'MERGE changes rows without copying them to the quarantine',
    TruncateStmt: 'TRUNCATE removes every row',
    DropStmt: 'DROP removes an object and its data',
    TransactionStmt: 'transaction control would end the script\'s transaction',
    VariableSetStmt: 'SET would change what the rest of the script means',
    DoStmt: 'a DO block runs code integrity cannot read',
    CallStmt: 'CALL runs a procedure integrity cannot read',
  };
  return { review: what[kind] ?? `${kind.replace(/Stmt$/, '')} is not a statement a repair may run unreviewed` };
}

/** Why a plugin's SQL must be reviewed, or the worst safety it may claim ('safe' or 'destructive'). */
async function verdictOn(sqlTexts: string[]): Promise<{ review: string } | 'safe' | 'destructive'> {
  let destructive = false;
  for (const text of sqlTexts) {
    // Statements integrity's own helpers wrote (the quarantine table and its DO guard) are ours to vouch for.
    let sql = text;
    for (const written of WRITTEN_BY_HELPERS) if (sql.includes(written)) sql = sql.split(written).join('\n');
    if (sql.trim() === '') continue;
    let stmts: { stmt: Json }[];
    try {
      stmts = ((await parse(sql)) as { stmts?: { stmt: Json }[] }).stmts ?? [];
    } catch {
      // psql meta-commands (\!, \i, ...) are not SQL: the server's grammar rejects them, so they land here.
      return { review: 'the SQL does not parse as PostgreSQL (it may hold a psql meta-command)' };
    }
    for (const { stmt } of stmts) {
      const effect = effectOf(stmt);
      if (typeof effect === 'object') return effect;
      if (effect === 'quarantines-rows') destructive = true;
    }
  }
  return destructive ? 'destructive' : 'safe';
}

/**
 * A plugin's repair, as the script may run it: each step's SQL is parsed, and a step that could lose a
 * row (a DELETE or UPDATE not moving the rows into the quarantine), end the transaction, change
 * settings, or hide a psql meta-command becomes `review` (commented out, with the reason), whatever the
 * plugin claimed; a step that moves rows into the quarantine is at least `destructive`. Built-in checks
 * are held to the same rules by their own tests.
 */
export async function vetPluginRepair(repair: Repair, origin: string): Promise<Repair> {
  const steps: RepairStep[] = [];
  for (const step of repair.steps) {
    const texts = step.phase === 'concurrent' ? [...(step.statements ?? [step.sql]), ...(step.verifyStatements ?? []), ...(step.guard ? [step.guard] : [])] : [step.sql];
    const verdict = await verdictOn(texts);
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
