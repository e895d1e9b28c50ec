// Writes schema/integrity.config.schema.json from the config's zod schema (run: npm run docs).
import { writeFileSync } from 'node:fs';
import { CHECKS } from '../dist/checks/index.js';
import { configJsonSchema } from '../dist/src/config/schema.js';

writeFileSync(new URL('../schema/integrity.config.schema.json', import.meta.url), `${JSON.stringify(configJsonSchema(CHECKS), null, 2)}\n`);
