import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'disabled-triggers',
  title: 'Triggers that do not fire for ordinary sessions',
  severity: 'warning',
  description: 'Triggers that do not fire for ordinary sessions.',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
