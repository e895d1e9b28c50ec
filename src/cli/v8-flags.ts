/**
 * Imported first by the command-line entry points, before anything loads the SQL parser. The parser is
 * PostgreSQL's own, compiled to WebAssembly (2 MB); V8's optimizing tier compiles it a second time into
 * some 50 MB of machine code, which was a third of the CLI's peak memory (154 MB against 102 MB on an
 * empty database, 160 MB against 108 MB on bench/ at scale 1). The baseline compiler's code parses the
 * statements an audit vets fast enough (no measurable change in the audit's time).
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--liftoff-only');
