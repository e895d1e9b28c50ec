import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'sequence-behind-data',
  title: 'Sequences whose next value is already taken',
  severity: 'error',
  description: 'Sequences whose next value is already taken.',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
