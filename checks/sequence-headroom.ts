import { defineCheck, z } from '../src/index.js';

// Placeholder while the check is written (issue 13): it says so instead of passing.
export default defineCheck({
  id: 'sequence-headroom',
  title: 'Sequences and identity columns close to their maximum',
  severity: 'warning',
  description: 'Sequences and identity columns close to their maximum.',
  options: z.strictObject({}),
  async run(ctx) {
    return ctx.skip('not built yet');
  },
});
