import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { EVENT } from '../../src/core/events.ts';

// An administrator's first-day mistakes with the store key and the log file (issue 17): each ends in
// a clear refusal, with nothing created or started, never in jobs that fail one by one.

interface KeyFile {
  readonly keys: readonly { readonly id: string }[];
}

async function keyIds(file: string): Promise<string[]> {
  return (JSON.parse(await readFile(file, 'utf8')) as KeyFile).keys.map((k) => k.id);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('a lost store key: init and the server refuse, naming the key ids the store needs', () => {
  let dir = '';
  let config = '';
  let key = '';
  let lostIds: string[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-lostkey-'));
    assert.equal((await runCli(['init', '--demo', dir])).code, 0);
    config = join(dir, 'pwsync.yaml');
    key = join(dir, 'data', 'store.key');
    assert.equal((await runCli(['import', '--config', config])).code, 0);
    // No server runs: the change is committed, its jobs pending, its password sealed under the key.
    const change = await runCli(['change', 'alice', '--stdin', '--config', config], { input: 'Pending-under-old-key-1\n' });
    assert.equal(change.code, 0, change.stderr);
    lostIds = await keyIds(key);
    await rm(key);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('init does not make a new key while the store holds secrets sealed under the lost one', async () => {
    const r = await runCli(['init', '--config', config]);
    assert.equal(r.code, 5, r.stdout + r.stderr);
    for (const id of lostIds) assert.ok(r.stderr.includes(id), `names ${id}: ${r.stderr}`);
    assert.match(r.stderr, /docs\/operations\.md/);
    assert.equal(await exists(key), false, 'no new key file');
  });

  test('the server refuses to start on a keyring that lacks a key the store needs; nothing started', async () => {
    // A key file of another installation put in its place (a wrong backup restored).
    const other = await mkdtemp(join(tmpdir(), 'pwsync-otherkey-'));
    try {
      assert.equal((await runCli(['init', '--demo', other])).code, 0);
      await copyFile(join(other, 'data', 'store.key'), key);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    try {
      const r = await runCli(['server', '--config', config], { timeoutMs: 30_000 });
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /server running/);
      for (const id of lostIds) assert.ok(r.stderr.includes(id), `names ${id}: ${r.stderr}`);
      assert.match(r.stderr, /docs\/operations\.md/);
      // Nothing was delivered or failed: the job still waits for its key.
      const queue = await runCli(['queue', '--json', '--config', config]);
      assert.equal(queue.code, 0, queue.stderr);
      assert.doesNotMatch(queue.stdout, /"failed"/);
      // key rotate refuses too, before it adds a key it would then strand the secrets under.
      const before = await readFile(key, 'utf8');
      const rotate = await runCli(['key', 'rotate', '--config', config]);
      assert.equal(rotate.code, 5, rotate.stdout + rotate.stderr);
      assert.equal(await readFile(key, 'utf8'), before);
    } finally {
      await rm(key, { force: true });
    }
  });

  test('a key lost for good: key forget gives up its pending changes (7031), then init makes a new key', async () => {
    const wrong = await runCli(['key', 'forget', 'k-not-in-the-store', '--config', config]);
    assert.equal(wrong.code, 5, wrong.stdout + wrong.stderr);
    for (const id of lostIds) assert.ok(wrong.stderr.includes(id), `names ${id}: ${wrong.stderr}`);
    const forget = await runCli(['key', 'forget', ...lostIds, '--json', '--config', config]);
    assert.equal(forget.code, 0, forget.stderr);
    assert.equal((JSON.parse(forget.stdout) as { abandoned: number }).abandoned, 2);
    const init = await runCli(['init', '--config', config]);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(await exists(key), true);
    const queue = await runCli(['queue', '--json', '--config', config]);
    assert.equal(queue.code, 0, queue.stderr);
    assert.match(queue.stdout, new RegExp(`"event":\\s*${EVENT.KEY_LOST}`));
    const open = await runCli(['queue', '--state', 'open', '--json', '--config', config]);
    assert.doesNotMatch(open.stdout, /"pending"/);
  });
});

describe('a log.file that cannot be opened: server and agent refuse to run', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-logfile-'));
    assert.equal((await runCli(['init', '--demo', dir])).code, 0);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the server: a clear message naming log.file, non-zero exit, never "running"', async () => {
    const config = join(dir, 'pwsync.yaml');
    const logFile = join(dir, 'no-such-dir', 'pwsync.log');
    await writeFile(config, `${await readFile(config, 'utf8')}\nlog: { level: info, file: ${logFile} }\n`);
    const r = await runCli(['server', '--config', config], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /running/);
    assert.match(r.stderr, /log\.file/);
    assert.ok(r.stderr.includes(logFile), r.stderr);
    assert.equal(await exists(join(dir, 'no-such-dir')), false, 'the directory is not made up');
  });

  test('the agent: the same refusal before it starts anything', async () => {
    const config = join(dir, 'agent.yaml');
    const logFile = join(dir, 'no-such-agent-dir', 'agent.log');
    await writeFile(config, `dataDir: ${join(dir, 'agent-data')}\nsources: [directory]\nlog: { level: info, file: ${logFile} }\n`);
    const r = await runCli(['agent', '--config', config], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /running/);
    assert.match(r.stderr, /log\.file/);
    assert.ok(r.stderr.includes(logFile), r.stderr);
    assert.equal(await exists(join(dir, 'agent-data')), false, 'nothing created');
  });
});
