/**
 * Built-in functions that run the input (or receive) function of a type they are handed as a value (an
 * oid, or a name as text) rather than one the query's own types show: for a domain, that runs its CHECK,
 * which may call any function, user code among them.
 */
export const TYPE_IO_FUNCTIONS: ReadonlySet<string> = new Set([
  'domain_in',
  'domain_recv',
  'array_in',
  'array_recv',
  'record_in',
  'record_recv',
  'range_in',
  'range_recv',
  'multirange_in',
  'multirange_recv',
  'pg_input_is_valid',
  'pg_input_error_info',
]);

/**
 * Built-in functions that run queries on the tables and views (a view may call any function) or the SQL
 * text they are given, stable ones among them: evaluating one may run any function.
 */
export const QUERY_RUNNING_FUNCTIONS: ReadonlySet<string> = new Set([
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  // its second argument is a query, run to find the rewrite rules
  'ts_rewrite',
]);

/**
 * Built-in functions that act beyond the statement that calls them, where a READ ONLY transaction
 * cannot reach or cannot undo: settings that outlive a check, SQL given as text (which may call any of
 * these), other connections (dblink), other sessions, replication slots and statistics, the server's
 * files and configuration, session-level locks, large objects; and the type input functions above, which
 * may run user code. A check's query (the audit's guard) and a plugin's repair step (the script's
 * vetting) may not call them.
 */
export const ACTING_FUNCTIONS = new Set([
  ...TYPE_IO_FUNCTIONS,
  ...QUERY_RUNNING_FUNCTIONS,
  'set_config',
  'dblink',
  'dblink_exec',
  'dblink_connect',
  'dblink_connect_u',
  'dblink_send_query',
  'dblink_open',
  'dblink_fetch',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_promote',
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
  'pg_advisory_unlock_all',
  'pg_notify',
  'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_drop_replication_slot',
  'pg_copy_physical_replication_slot',
  'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance',
  'pg_logical_slot_get_changes',
  'pg_logical_slot_get_binary_changes',
  'pg_logical_emit_message',
  'pg_replication_origin_create',
  'pg_replication_origin_drop',
  'pg_replication_origin_advance',
  'pg_stat_reset',
  'pg_stat_reset_shared',
  'pg_stat_reset_single_table_counters',
  'pg_stat_reset_single_function_counters',
  'pg_stat_reset_slru',
  'pg_stat_reset_replication_slot',
  'pg_stat_reset_subscription_stats',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
  'pg_log_backend_memory_contexts',
  'pg_import_system_collations',
  'lo_import',
  'lo_export',
  'lo_creat',
  'lo_create',
  'lo_unlink',
  'lo_put',
  'lo_from_bytea',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
]);

/** The names (last part, lower case) of every function a parse tree calls. */
export function calledFunctions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const n of node) calledFunctions(n, out);
  } else if (node && typeof node === 'object') {
    const call = (node as { FuncCall?: { funcname?: { String?: { sval?: string } }[] } }).FuncCall;
    const last = call?.funcname?.[call.funcname.length - 1]?.String?.sval;
    if (last) out.push(last.toLowerCase());
    for (const v of Object.values(node)) calledFunctions(v, out);
  }
  return out;
}

function namesAt(list: unknown): string[] {
  return Array.isArray(list) ? list.map((n) => String((n as { String?: { sval?: string } })?.String?.sval ?? '')) : [];
}

/**
 * Code a parse tree would run that is not PostgreSQL's own reading, one label each: functions,
 * operators and types of a schema other than pg_catalog, and functions of `acting` (by default the
 * ones that act beyond the statement). Unqualified names count as pg_catalog's: the audit and the fix
 * script both pin search_path = pg_catalog, pg_temp.
 */
export function codeBeyondReading(tree: unknown, acting: ReadonlySet<string> = ACTING_FUNCTIONS): string[] {
  const out = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!node || typeof node !== 'object') return;
    // libpg_query spells a type name `typeName: {names}` inside TypeCast, ColumnDef and the like, and `TypeName: {...}` elsewhere.
    const o = node as { FuncCall?: { funcname?: unknown }; A_Expr?: { name?: unknown }; TypeName?: { names?: unknown }; typeName?: { names?: unknown } };
    const fn = namesAt(o.FuncCall?.funcname);
    if (fn.length > 0 && ((fn.length > 1 && fn[0] !== 'pg_catalog') || acting.has((fn[fn.length - 1] ?? '').toLowerCase()))) out.add(`function ${fn.join('.')}()`);
    const op = namesAt(o.A_Expr?.name);
    if (op.length > 1 && op[0] !== 'pg_catalog') out.add(`operator OPERATOR(${op.join('.')})`);
    for (const type of [namesAt(o.TypeName?.names), namesAt(o.typeName?.names)]) {
      if (type.length > 1 && type[0] !== 'pg_catalog') out.add(`type ${type.join('.')}`);
    }
    for (const v of Object.values(node)) walk(v);
  };
  walk(tree);
  return [...out];
}
