import { UsageError } from '../errors.js';
import { REPORT_FORMATS, type ReportFormat } from '../report/formats.js';
import { assertWritableDestination } from './io.js';

/** `--report FORMAT=PATH`, as check and preflight take it: the format and a destination that can be written. */
export function parseReportSpec(spec: string, cwd: string): [ReportFormat, string] {
  const eq = spec.indexOf('=');
  const format = spec.slice(0, eq) as ReportFormat;
  if (eq < 1 || !REPORT_FORMATS.includes(format) || eq === spec.length - 1) {
    throw new UsageError(`--report ${spec}: expected FORMAT=PATH with FORMAT one of ${REPORT_FORMATS.join(', ')}`);
  }
  return [format, assertWritableDestination(spec.slice(eq + 1), cwd, `--report ${format}=`)];
}
