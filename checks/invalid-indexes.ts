import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'invalid-indexes',
  title: 'Invalid indexes (a failed CREATE INDEX CONCURRENTLY)',
  severity: 'warning',
  description: 'Invalid indexes (a failed CREATE INDEX CONCURRENTLY).',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
