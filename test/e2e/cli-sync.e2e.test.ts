import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../../src/core/secret.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { CliProcess, runCli, type CliResult } from '../support/cli.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { EVENT } from '../../src/core/events.ts';

// Passwords no other byte sequence in the run could contain by chance.
const ALICE_PW = 'Alice-e2e-Pw-7f3c9a1b';
const ZOE_PW = 'Zoë-密码-e2e-4d2e8b6a';
const PENDING_PW = 'Pending-rotated-e2e-5a1c';
const PASSWORDS = [ALICE_PW, ZOE_PW, PENDING_PW];

describe('pwsync end to end through the CLI, on the demo', () => {
  let dir = '';
  let config = '';
  const outputs: Buffer[] = [];
  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli([...args, '--config', config], input === undefined ? {} : { input });
    outputs.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
    return r;
  };
  const logFile = (): string => join(dir, 'pwsync.log');
  const startServer = async (): Promise<CliProcess> => {
    const server = new CliProcess(['server', '--config', config]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const log = await readFile(logFile(), 'utf8').catch(() => '');
      if (log.split('\n').filter((l) => l.includes('"server started"')).length > startedCount) break;
      if (server.child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${server.output}\n${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    startedCount++;
    return server;
  };
  let startedCount = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-e2e-'));
    const init = await runCli(['init', '--demo', dir]);
    assert.equal(init.code, 0, init.stderr);
    config = join(dir, 'pwsync.yaml');
    // Log everything the server has to say, to a file the leak check reads.
    await appendFile(config, 'log: { level: debug, file: ./pwsync.log }\n');
    assert.equal((await stat(join(dir, 'data', 'store.key'))).mode & 0o777, 0o600);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('import projects persons from the source and joins the targets', async () => {
    const r = await cli(['import', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const reports = JSON.parse(r.stdout) as { system: string; read: number; projected: number; joined: number; unmatched: number }[];
    assert.deepEqual(
      reports.map((x) => [x.system, x.read, x.projected, x.joined, x.unmatched]),
      [
        ['directory', 5, 5, 0, 0],
        ['webapp', 5, 0, 4, 1],
        ['legacy', 5, 0, 4, 1],
      ],
    );
    const zoe = await cli(['persons', 'zoe', '--json']);
    const [person] = JSON.parse(zoe.stdout) as { accounts: { system: string; anchor: string }[] }[];
    assert.deepEqual(person?.accounts.map((a) => `${a.system}/${a.anchor}`).sort(), ['directory/1005', 'legacy/504', 'webapp/u-04']);
  });

  test('a change reaches every linked target through the running server; nothing else in the files changes', async () => {
    const before = {
      webapp: await readFile(join(dir, 'targets', 'webapp.csv'), 'utf8'),
      legacy: await readFile(join(dir, 'targets', 'legacy.tsv'), 'utf8'),
    };
    const server = await startServer();
    try {
      const r = await cli(['change', 'alice', '--stdin', '--wait', '30', '--json'], `${ALICE_PW}\n`);
      assert.equal(r.code, 0, r.stderr);
      const receipt = JSON.parse(r.stdout) as { outcomes: { system: string; state: { kind: string } }[] };
      assert.deepEqual(receipt.outcomes.map((j) => `${j.system}:${j.state.kind}`).sort(), ['legacy:done', 'webapp:done']);

      const z = await cli(['change', 'zoe', '--stdin', '--wait', '30'], `${ZOE_PW}\n`);
      assert.equal(z.code, 0, z.stderr);
      await scanForPasswords(dir, outputs, 'while the server runs');
    } finally {
      assert.equal(await server.stop(), 0, server.output);
      outputs.push(server.outputBytes);
    }
    const webapp = await readFile(join(dir, 'targets', 'webapp.csv'), 'utf8');
    const legacy = await readFile(join(dir, 'targets', 'legacy.tsv'), 'utf8');
    // The PHC string holds commas, so the CSV field is quoted; SHA-512-crypt needs no quoting in TSV.
    const hashIn = (text: string, anchor: string, re: RegExp): string => re.exec(text.split('\n').find((l) => l.startsWith(anchor)) ?? '')?.[1] ?? '';
    const aliceHash = hashIn(webapp, 'u-01,', /,"(\$argon2id\$[^"]+)",/);
    assert.equal(await verifySecret(aliceHash, Secret.fromString(ALICE_PW)), true);
    const zoeHash = hashIn(legacy, '504\t', /\t(\$6\$[^\t]+)$/);
    assert.equal(await verifySecret(zoeHash, Secret.fromString(ZOE_PW)), true);
    // Every other byte as it was: take the new hashes out and compare with the original files.
    assert.equal(webapp.replace(/"\$argon2id\$[^"]+"/g, ''), before.webapp);
    assert.equal(legacy.replace(/\$6\$[^\t\n]+/g, ''), before.legacy);
    assert.equal((webapp.match(/\$argon2id\$/g) ?? []).length, 2);
    assert.equal((legacy.match(/\$6\$/g) ?? []).length, 2);
  });

  test('events, queue and persons show what happened', async () => {
    const events = await cli(['events', '--json', '--limit', '500']);
    assert.equal(events.code, 0, events.stderr);
    const codes = events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { code: number }).code);
    assert.equal(codes.filter((c) => c === EVENT.PASSWORD_SET).length, 4);
    assert.equal(codes.filter((c) => c === EVENT.CHANGE_ACCEPTED).length, 2);
    const queue = await cli(['queue', '--json', '--state', 'done']);
    assert.equal((JSON.parse(queue.stdout) as unknown[]).length, 4);
    const human = await cli(['queue']);
    assert.match(human.stdout, /done 4/);
  });

  test('key rotation re-encrypts a pending secret, which the server then delivers', async () => {
    const r = await cli(['change', 'bob', '--stdin'], `${PENDING_PW}\n`);
    assert.equal(r.code, 0, r.stderr);
    const rotate = await cli(['key', 'rotate', '--json']);
    assert.equal(rotate.code, 0, rotate.stderr);
    const report = JSON.parse(rotate.stdout) as { resealed: number; keyIds: string[] };
    assert.equal(report.resealed, 1);
    assert.equal(report.keyIds.length, 2);
    const server = await startServer();
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const q = JSON.parse((await cli(['queue', '--json', '--state', 'open'])).stdout) as unknown[];
        if (q.length === 0) break;
        assert.ok(Date.now() < deadline, 'pending jobs were not delivered');
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      assert.equal(await server.stop(), 0);
      outputs.push(server.outputBytes);
    }
    const webapp = await readFile(join(dir, 'targets', 'webapp.csv'), 'utf8');
    const bobHash = /^u-02,[^,]*,[^,]*,"([^"]+)"/m.exec(webapp)?.[1] ?? '';
    assert.equal(await verifySecret(bobHash, Secret.fromString(PENDING_PW)), true);
  });

  test('bad input gets a clear error and a meaningful exit code', async () => {
    const unknown = await cli(['change', 'mallory', '--stdin'], 'Unknown-e2e-Pw\n');
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /mallory/);
    const system = await cli(['import', 'nope']);
    assert.equal(system.code, 3);
    assert.match(system.stderr, /directory, webapp, legacy/);
    const empty = await cli(['change', 'alice', '--stdin'], '\n');
    assert.equal(empty.code, 2);
    const badState = await cli(['queue', '--state', 'bogus']);
    assert.equal(badState.code, 2);
  });

  test('no test password appears in the store, its WAL, the key, the logs or any output', async () => {
    const log = await readFile(logFile(), 'utf8');
    assert.match(log, /"password set"/);
    await scanForPasswords(dir, outputs, 'after the run');
  });

  async function scanForPasswords(root: string, extra: readonly Buffer[], when: string): Promise<void> {
    assert.ok((await stat(join(root, 'data', 'pwsync.db'))).isFile());
    await assertNoPasswords(root, PASSWORDS, extra, when);
  }
});
