/**
 * The VALIDATE CONSTRAINT statements repair scripts write, for unvalidated-checks (CHECK, NOT NULL,
 * domain constraints) and orphan-rows (foreign keys): run inside the script's one transaction, between
 * steps of other repairs (or a person's own) that may rely on deferred constraints.
 *
 * ALTER TABLE refuses a table with deferred trigger events queued on it in the transaction (55006,
 * "cannot ALTER TABLE ... because it has pending trigger events"); events queued on any other table, the
 * parent a foreign key references included, do not stop it. So the table's own initially deferred
 * constraints are made IMMEDIATE for the statement, and DEFERRED again after it, when that restores their
 * state exactly (see DEFERRED_ON); otherwise VALIDATE waits for a run after COMMIT. Never SET CONSTRAINTS ALL
 * IMMEDIATE: that would run every deferred check queued by the script so far (failing on a violation a
 * later step resolves) and keep every constraint immediate for the rest of the transaction (failing later
 * steps that rely on deferral).
 */
import { literal, qualifiedName, quoteIdent, relationOidLiteral } from '../../src/index.js';

/**
 * A VALIDATE statement, run only while its guard holds. `relation`: the table ALTER TABLE names, which it
 * refuses to alter while deferred trigger events are queued on it (55006, "pending trigger events"); null
 * for ALTER DOMAIN, which does not look.
 */
export interface Validation {
  guard: string;
  statement: string;
  relation: string | null;
}

/**
 * ALTER TABLE ... VALIDATE CONSTRAINT of the table's constraint `name` of `contype` ('c' check, 'n' not
 * null, 'f' foreign key), run only while it exists unvalidated: a second run of the script skips it.
 */
export function tableConstraintValidation(schema: string, table: string, name: string, contype: 'c' | 'n' | 'f'): Validation {
  return {
    relation: relationOidLiteral(schema, table),
    guard: `EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid OPERATOR(pg_catalog.=) ${relationOidLiteral(schema, table)} AND k.contype OPERATOR(pg_catalog.=) '${contype}' AND k.conname OPERATOR(pg_catalog.=) ${literal(name)} AND NOT k.convalidated)`,
    statement: `ALTER TABLE ${qualifiedName(schema, table)} VALIDATE CONSTRAINT ${quoteIdent(name)};`,
  };
}

/** A dollar-quote tag that does not occur in `body`. */
function dollarTag(body: string): string {
  let tag = '$integrity_validate$';
  for (let i = 1; body.includes(tag); i++) tag = `$integrity_validate_${i}$`;
  return tag;
}

/**
 * The deferrable, initially deferred constraints (foreign keys, deferrable unique constraints, constraint
 * triggers) with a trigger on the table, as SET CONSTRAINTS names them: the only ones whose events can be
 * queued on it in the script's transaction (nothing in the script defers another). SET CONSTRAINTS
 * schema.name sets every constraint of that name in the schema, so a name that a constraint of another
 * deferral state shares there is left out, neither made IMMEDIATE nor DEFERRED: DEFERRED would refuse a
 * holder that is not deferrable (after IMMEDIATE had made the table's own one immediate for the rest of the
 * transaction), and would defer for the rest of the transaction a holder that is DEFERRABLE INITIALLY
 * IMMEDIATE; no statement sets one holder of a shared name apart. Left out, its events queued on the table
 * stay pending, and VALIDATE meets them (55006): not validated now, a NOTICE says to run it after COMMIT.
 *
 * For a foreign key validated on its table, that takes in the key itself (its check triggers are on the
 * table; SET CONSTRAINTS by name also runs its events queued on the parent, by a delete of a parent row a
 * later step puts back, which VALIDATE would otherwise fail on) and every deferred key referencing the
 * table (their delete triggers are on it: the orphans' delete queues their events there).
 */
const DEFERRED_ON = (relation: string) => `(SELECT pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(k.conname), ', ')
         FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_constraint k ON k.oid OPERATOR(pg_catalog.=) g.tgconstraint
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.connamespace
        WHERE g.tgrelid OPERATOR(pg_catalog.=) ${relation} AND g.tgdeferrable AND g.tginitdeferred
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint o WHERE o.connamespace OPERATOR(pg_catalog.=) k.connamespace
                           AND o.conname OPERATOR(pg_catalog.=) k.conname AND NOT (o.condeferrable AND o.condeferred)))`;

/**
 * A DO block running each statement while its guard holds; `tolerant`: a violation left elsewhere is a
 * NOTICE, not an error. ALTER TABLE refuses a table with deferred trigger events queued on it (the move's
 * delete queues them when a deferred foreign key references the table; another repair's write can too): the
 * table's own deferred constraints are made IMMEDIATE for the statement, which runs their checks now, and
 * DEFERRED again after it. Not SET CONSTRAINTS ALL IMMEDIATE: that would run every deferred check queued by
 * the script so far, failing on a violation a later step resolves, and keep every constraint immediate for
 * the rest of the transaction, failing steps that rely on deferral. When this table's own deferred checks
 * fail at that point, it is not validated (a NOTICE says so; they run again at COMMIT); so too when events
 * of a constraint left out of SET CONSTRAINTS are queued on it (55006), in the safe block as well.
 */
export function guardedValidations(steps: Validation[], tolerant: boolean): string {
  const deferral = steps.some((s) => s.relation !== null);
  const validate = (s: Validation, indent: string) => {
    const handlers: string[] = [];
    if (tolerant)
      handlers.push(
        `${indent}EXCEPTION WHEN check_violation OR not_null_violation THEN`,
        `${indent}  RAISE NOTICE 'integrity: not validated yet, rows still violate it (not repaired yet, or on another table): %', SQLERRM;`,
      );
    // Events of a constraint left out of SET CONSTRAINTS (a shared name, or one a step of the script
    // deferred) may still be queued on the table: not a failure of the script, only of this moment.
    if (s.relation !== null)
      handlers.push(
        `${indent}${tolerant ? '' : 'EXCEPTION '}WHEN object_in_use THEN`,
        `${indent}  RAISE NOTICE 'integrity: not validated now: deferred trigger events are still queued on its table, of a constraint not deferred again here (a constraint of another deferral state in its schema shares its name) or deferred by the script; run it again after COMMIT: %', SQLERRM;`,
      );
    if (handlers.length === 0) return `${indent}${s.statement}`;
    return [`${indent}BEGIN`, `${indent}  ${s.statement}`, ...handlers, `${indent}END;`].join('\n');
  };
  const set = (mode: string) => `EXECUTE 'SET CONSTRAINTS ' OPERATOR(pg_catalog.||) integrity_deferred OPERATOR(pg_catalog.||) ' ${mode}';`;
  const block = (s: Validation) => {
    if (s.relation === null) return `  IF ${s.guard} THEN\n${validate(s, '    ')}\n  END IF;`;
    return [
      `  IF ${s.guard} THEN`,
      `    integrity_deferred := ${DEFERRED_ON(s.relation)};`,
      '    integrity_fired := true;',
      '    IF integrity_deferred IS NOT NULL THEN',
      '      BEGIN',
      `        ${set('IMMEDIATE')}`,
      '      EXCEPTION WHEN OTHERS THEN',
      '        integrity_fired := false;',
      "        RAISE NOTICE 'integrity: not validated now: the deferred checks queued on its table fail at this point of the script (they run again at COMMIT): %', SQLERRM;",
      '      END;',
      '    END IF;',
      '    IF integrity_fired THEN',
      validate(s, '      '),
      `      IF integrity_deferred IS NOT NULL THEN ${set('DEFERRED')} END IF;`,
      '    END IF;',
      '  END IF;',
    ].join('\n');
  };
  const declare = deferral ? 'DECLARE\n  integrity_deferred pg_catalog.text;\n  integrity_fired pg_catalog.bool;\n' : '';
  const body = `${declare}BEGIN\n${steps.map(block).join('\n')}\nEND`;
  const tag = dollarTag(body);
  return `DO ${tag}\n${body}\n${tag};`;
}
