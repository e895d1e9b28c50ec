import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'undeclared-references',
  title: 'Columns that reference a table without a foreign key',
  severity: 'info',
  description: 'Columns that reference a table without a foreign key.',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
