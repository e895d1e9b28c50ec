import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'collation-drift',
  title: 'Collation versions that changed under text indexes',
  severity: 'warning',
  description: 'Collation versions that changed under text indexes.',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
