/**
 * @acme/integrity-checks: Acme's own checks, loaded by integrity from `plugins: ["@acme/integrity-checks"]`
 * in integrity.config.json. Shipped as TypeScript: integrity loads it through jiti, so a project installs it
 * with `npm install` and builds nothing.
 */
import { sqlCheckFromFile } from 'pg-integrity';
import { amountsNotNegative } from './checks/amounts-not-negative.ts';
import { invoiceHasLines } from './checks/invoice-has-lines.ts';

/** A check written in SQL, in a file beside this one; its header comment says what the query finds. */
export const noFutureInvoices = sqlCheckFromFile(new URL('./sql/no-future-invoices.sql', import.meta.url));

export { amountsNotNegative, invoiceHasLines };

export const checks = [invoiceHasLines, amountsNotNegative, noFutureInvoices];
