import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { silentLogger } from '../../log/logger.ts';
import { withStore } from '../queue/test-support.ts';
import { MissedChanges } from './missed.ts';
import { EVENT } from '../../core/events.ts';

const line = (account: string, extra: Record<string, unknown> = {}): string =>
  `${JSON.stringify({ account, at: Date.UTC(2026, 11, 7, 13, 0, 0), reason: 'the agent is not reachable (connect /x: No such file or directory)', ...extra })}\n`;

void describe('missed changes (pam_pwsync missed file)', () => {
  void test('each line becomes one event 7050 naming the account and source; the file is emptied', async () => {
    await withStore(async (store, { root }) => {
      const file = join(root, 'pam-missed.jsonl');
      await writeFile(file, line('jdoe') + line('asmith', { source: 'hr' }) + line('bob', { source: 'not-ours' }));
      const missed = new MissedChanges({ file, store, log: silentLogger(), sources: ['corp', 'hr'] });
      assert.equal(await missed.check(), 3);
      const events = await store.listEvents({ limit: 10 });
      assert.deepEqual(events.map((e) => [e.code, e.severity, e.system, e.anchor]), [
        [EVENT.CAPTURE_MISSED, 'error', 'corp', 'jdoe'],
        [EVENT.CAPTURE_MISSED, 'error', 'hr', 'asmith'],
        [EVENT.CAPTURE_MISSED, 'error', 'corp', 'bob'],
      ]);
      assert.match(events[0]?.message ?? '', /2026-12-07T13:00:00\.000Z.*not reachable.*not forwarded/);
      assert.deepEqual(await readdir(root).then((names) => names.filter((n) => n.startsWith('pam-missed'))), []);
      // Nothing there: nothing reported, nothing created.
      assert.equal(await missed.check(), 0);
      await appendFile(file, line('carol'));
      assert.equal(await missed.check(), 1);
      await missed.stop();
    });
  });

  void test('a take left half way is reported first, and the live file after it', async () => {
    await withStore(async (store, { root }) => {
      const file = join(root, 'm.jsonl');
      await writeFile(`${file}.taking`, line('first'));
      await writeFile(file, line('second'));
      const missed = new MissedChanges({ file, store, log: silentLogger(), sources: ['corp'] });
      await missed.start();
      await missed.stop();
      assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.anchor), ['first', 'second']);
    });
  });

  void test('an unreadable line is reported without its content; control characters never pass', async () => {
    await withStore(async (store, { root }) => {
      const file = join(root, 'm.jsonl');
      await writeFile(file, 'not json Secret-Looking-1\n' + line('evil\u001b[31mname'));
      const missed = new MissedChanges({ file, store, log: silentLogger(), sources: ['corp'] });
      assert.equal(await missed.check(), 2);
      const [bad, evil] = await store.listEvents({ limit: 10 });
      assert.ok(bad !== undefined && evil !== undefined);
      assert.equal(bad.anchor, null);
      assert.doesNotMatch(bad.message, /Secret-Looking/);
      assert.equal(evil.anchor, 'evil?[31mname');
    });
  });

  void test('a take that cannot be read stays where it is, and the next take is not renamed onto it', async () => {
    await withStore(async (store, { root }) => {
      const file = join(root, 'm.jsonl');
      // A directory where the taken file should be: reading it fails, for root as for anyone.
      await mkdir(`${file}.taking`);
      await writeFile(file, line('kept'));
      const missed = new MissedChanges({ file, store, log: silentLogger(), sources: ['corp'] });
      assert.equal(await missed.check(), 0);
      assert.deepEqual(await readdir(root).then((n) => n.filter((x) => x.startsWith('m.jsonl')).sort()), ['m.jsonl', 'm.jsonl.taking']);
      assert.deepEqual(await store.listEvents({ limit: 10 }), []);
    });
  });
});
