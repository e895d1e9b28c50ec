/**
 * The package's "./testing" export: a table-driven tester for checks (fixture in, exact findings out,
 * against a real PostgreSQL) and matchers for audit reports, for vitest and jest alike.
 */
export { CheckTester, CheckTesterError, CaseMismatchError, checkTester, mergeConfig } from './check-tester.js';
export type { CaseAuditOptions, CaseResult, CheckTestCase, CheckTesterOptions, DescribeFn, ItFn } from './check-tester.js';
export type { ExpectedFinding, ExpectedReportFinding } from './expected.js';
export { TEST_DATABASE_ENV, testServerUrl } from './server.js';
export { installMatchers, integrityMatchers } from './matchers.js';
export type { IntegrityAssertions, IntegrityMatchers, MatcherResult } from './matchers.js';
