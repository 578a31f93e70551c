import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliProcess, runCli } from '../support/cli.ts';
import { EVENT } from '../../src/core/events.ts';

describe('bad input gets a clear error that names the thing and the fix; nothing is half-written', () => {
  let dir = '';
  let config = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-bad-'));
    assert.equal((await runCli(['init', '--demo', dir])).code, 0);
    config = join(dir, 'pwsync.yaml');
    assert.equal((await runCli(['import', '--config', config])).code, 0);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a malformed configuration: every problem at once, with line numbers, exit 2', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      ['systems:', '  - name: Bad_Name', '    connector: file', '    file: { path: x.csv, delimitr: ";" }', '    import: { anchor: id }', '    password: { sync: maybe }', ''].join('\n'),
    );
    const r = await runCli(['config', 'check', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:2:\d+\s+systems\[0\] \(Bad_Name\)\.name/);
    assert.match(r.stderr, /bad\.yaml:4:\d+\s+systems\[0\].*\.file\.delimitr.*delimiter/);
    assert.match(r.stderr, /bad\.yaml:6:\d+\s+systems\[0\].*\.password\.sync/);
    const run = await runCli(['queue', '--config', bad]);
    assert.equal(run.code, 2);
  });

  test('a loop back into the source is refused at load', async () => {
    const loop = join(dir, 'loop.yaml');
    await writeFile(loop, (await readFile(config, 'utf8')).replace('    source: { accountAttribute: login }', '    source: { accountAttribute: login }\n    password: { sync: true, hash: bcrypt }'));
    const r = await runCli(['config', 'check', loop]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /systems\[0\] \(directory\)/);
  });

  test('a target pointed at the source\'s CSV (another spelling) with a mapped column as its password column is refused by config check and at load; the file is untouched (issue 17, item 3)', async () => {
    const shared = join(dir, 'shared.yaml');
    const source = join(dir, 'directory.csv');
    const before = await readFile(source);
    await writeFile(shared, (await readFile(config, 'utf8')).replace('{ path: ./targets/webapp.csv, passwordColumn: password_hash }', '{ path: ./targets/../directory.csv, passwordColumn: surname }').replace('      map: { username: username, email: email }', '      map: { username: login, email: mail, surname: surname }'));
    const r = await runCli(['config', 'check', shared]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /shared\.yaml:18:\d+\s+systems\[1\] \(webapp\)\.file\.path\s+the same file as systems\[0\] \(directory\)/);
    assert.match(r.stderr, /shared\.yaml:18:\d+\s+systems\[1\] \(webapp\)\.file\.passwordColumn\s+the password column "surname" is also import\.map\.surname/);
    const run = await runCli(['import', '--config', shared]);
    assert.equal(run.code, 2);
    assert.deepEqual(await readFile(source), before);
  });

  test('a tab in the indentation: the first syntax error only, and an inline secret never echoed, in text and --json (issue 17, item 8)', async () => {
    const tab = join(dir, 'tab.yaml');
    await writeFile(tab, (await readFile(config, 'utf8')).replace('    file: { path: ./directory.csv }', '    file:\n      path: ./directory.csv\n\tpasswordColumn: x\n      password: Sup3rSecretInline\n      quote: "\'"'));
    for (const args of [['config', 'check', tab], ['config', 'check', '--json', tab]]) {
      const r = await runCli(args);
      assert.equal(r.code, 2);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('Sup3rSecretInline'), `${r.stdout}${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, /tab/);
    }
    const json = JSON.parse((await runCli(['config', 'check', '--json', tab])).stdout) as { problems: unknown[] };
    assert.equal(json.problems.length, 1);
  });

  test('config check on an agent file checks it as one: its own keys and lines, and nothing created; an agent command refuses it before making a key (issue 17)', async () => {
    const agentDir = join(dir, 'agent-bad');
    await mkdir(agentDir);
    const agentFile = join(agentDir, 'pwsync-agent.yaml');
    await writeFile(agentFile, ['sources: [directory]', 'scope:', '  groups: [x]', 'queue: { maxAge: 0 }', ''].join('\n'));
    const r = await runCli(['config', 'check', agentFile]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /agent configuration/);
    assert.match(r.stderr, /pwsync-agent\.yaml:3:\d+\s+scope\.groups\s+unknown key "groups"/);
    assert.match(r.stderr, /pwsync-agent\.yaml:4:\d+\s+queue\.maxAge\s+must be between/);
    assert.doesNotMatch(r.stderr, /did you mean "store"|systems/);
    const json = JSON.parse((await runCli(['config', 'check', '--json', agentFile])).stdout) as { kind: string; ok: boolean };
    assert.deepEqual([json.kind, json.ok], ['agent', false]);
    const list = await runCli(['agent', 'target', 'list', '--config', agentFile]);
    assert.equal(list.code, 2);
    assert.match(list.stderr, /queue\.maxAge/);
    assert.deepEqual(await readdir(agentDir), ['pwsync-agent.yaml'], 'no data directory, no key');
  });

  test('config check --connect names a mapped or joined column the file does not have (issue 17)', async () => {
    const typo = join(dir, 'columns.yaml');
    await writeFile(typo, (await readFile(config, 'utf8')).replace('map: { login: login, mail: mail, givenName: given_name, surname: surname }', 'map: { login: login, mail: email, givenName: given_name, surname: surname }'));
    const r = await runCli(['config', 'check', '--connect', typo]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /directory \(file\): FAILED.*no column "email" \(import\.map\.mail\)/);
    const good = await runCli(['config', 'check', '--connect', config]);
    assert.equal(good.code, 0, good.stderr);
  });

  test('a key file readable by others is refused with the chmod that fixes it, exit 5', async () => {
    const key = join(dir, 'data', 'store.key');
    await chmod(key, 0o644);
    try {
      const r = await runCli(['queue', '--config', config]);
      assert.equal(r.code, 5);
      assert.match(r.stderr, new RegExp(`chmod 600 ${key.replace(/[.]/g, '\\.')}`));
    } finally {
      await chmod(key, 0o600);
    }
  });

  test('a corrupt target file fails that delivery (7010), is left untouched, and the other target still gets the password', async () => {
    const legacy = join(dir, 'targets', 'legacy.tsv');
    const original = await readFile(legacy);
    const corrupt = Buffer.concat([original, Buffer.from('505\tbroken-row-with-too-few-fields\n')]);
    await writeFile(legacy, corrupt);
    const server = new CliProcess(['server', '--config', config]);
    try {
      const r = await runCli(['change', 'alice', '--stdin', '--wait', '30', '--json', '--config', config], { input: 'Corrupt-target-Pw1\n' });
      assert.equal(r.code, 4, r.stderr);
      const outcomes = (JSON.parse(r.stdout) as { outcomes: { system: string; state: { kind: string; event?: number; lastError?: string } }[] }).outcomes;
      const bySystem = Object.fromEntries(outcomes.map((o) => [o.system, o.state]));
      assert.equal(bySystem['webapp']?.kind, 'done');
      const legacyState = bySystem['legacy'];
      assert.ok(legacyState);
      assert.equal(legacyState.kind, 'failed');
      assert.equal(legacyState.event, EVENT.DELIVERY_FAILED);
      assert.match(legacyState.lastError ?? '', /legacy\.tsv.*line 7/);
      assert.deepEqual(await readFile(legacy), corrupt);
    } finally {
      await server.stop();
    }
  });

  test('a second server on the same store is refused while the first runs', async () => {
    const first = new CliProcess(['server', '--config', config]);
    try {
      // The first holds the lock once it logs that it started (its log goes to standard error).
      await first.waitFor('server started');
      const second = await runCli(['server', '--config', config]);
      assert.equal(second.code, 2);
      assert.match(second.stderr, /another pwsync server is running/);
    } finally {
      assert.equal(await first.stop(), 0);
    }
  });

  test('an unknown person for persons, exit 3', async () => {
    const r = await runCli(['persons', 'nobody-here', '--config', config]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /nobody-here/);
  });
});
