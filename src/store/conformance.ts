import { describe } from 'node:test';
import { accountTests } from './conformance/accounts.ts';
import { deltaTests } from './conformance/delta.ts';
import { eventTests } from './conformance/events.ts';
import type { OpenStore } from './conformance/fixtures.ts';
import { jobTests } from './conformance/jobs.ts';
import { personTests } from './conformance/persons.ts';
import { lookupTests } from './conformance/lookups.ts';
import { queueTests } from './conformance/queue.ts';

export type { OpenStore } from './conformance/fixtures.ts';

/**
 * Registers the store conformance suite with `node:test`: every method of the port and every rule
 * its doc comments state. Each implementation (SQLite, PostgreSQL) runs this very suite from its
 * own test file, so they cannot drift apart.
 *
 * `open` must return a fresh, empty store per call; `cleanup` closes it if it is still open (the
 * suite closes some itself) and removes whatever the store left behind. Tests assert on error
 * codes and states, never on message text.
 */
export function runStoreConformance(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}`, () => {
    accountTests(open);
    deltaTests(open);
    personTests(open);
    lookupTests(open);
    jobTests(open);
    queueTests(open);
    eventTests(open);
  });
}
