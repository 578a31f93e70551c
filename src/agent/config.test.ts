import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkAgentConfig, loadAgentConfig } from './config.ts';

describe('agent configuration', () => {
  let dir = '';
  let n = 0;
  const write = async (lines: readonly string[]): Promise<string> => {
    const file = join(dir, `agent-${++n}.yaml`);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-agent-config-'));
    await writeFile(join(dir, 'short.token'), 'too-short\n', { mode: 0o600 });
    await writeFile(join(dir, 'good.token'), `${'t'.repeat(40)}\n`, { mode: 0o600 });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('durations and ports within bounds, each named by its key and line (issue 17: "maxAgeMs must be…" named no key)', async () => {
    const { problems } = await checkAgentConfig(
      await write(['sources: [corp]', 'queue: { maxAge: 0 }', 'delivery: { timeout: 0 }', 'capture: { http: { listen: "127.0.0.1:70000", token: file:good.token } }']),
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['queue.maxAge', 2],
        ['delivery.timeout', 3],
        ['capture.http.listen', 4],
      ],
    );
    assert.ok(problems.slice(0, 2).every((p) => /between/.test(p.message)));
    const both = await checkAgentConfig(await write(['sources: [corp]', 'capture:', '  http: { listen: "127.0.0.1:8080", token: file:short.token }', '  samba: { source: other }']));
    assert.deepEqual(both.problems.map((p) => p.path), ['capture.http.token', 'capture.samba.source'], 'every problem at once');
  });

  test('the scope\'s checks between keys run beside its other problems: one check shows them all (issue 17)', async () => {
    const { problems } = await checkAgentConfig(
      await write([
        'sources: [corp]',
        'scope:',
        '  include: [a, a]',
        '  exclude: [a]',
        '  directory:',
        '    ldap: { url: "ldaps://x", insecurePlaintext: true, bindDn: 5, bindPassword: "${PW}", baseDn: "dc=x", colour: 1 }',
        '  colour: 2',
      ]),
      { env: { PW: 'placeholder' } },
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['scope.include[1]', 3],
        ['scope.exclude[0]', 4],
        ['scope.directory.ldap.insecurePlaintext', 6],
        ['scope.directory.ldap.bindDn', 6],
        ['scope.directory.ldap.colour', 6],
        ['scope.colour', 7],
      ],
    );
  });

  test('defaults: the reference\'s queue limits, paths under the data directory', async () => {
    const config = await loadAgentConfig(await write(['sources: [corp]']));
    assert.equal(config.queue.maxAge, 72 * 3_600_000);
    assert.equal(config.queue.maxLength, 100_000);
    assert.equal(config.delivery.batchSize, 200);
    assert.equal(config.dataDir, join(dir, 'agent-data'));
    assert.equal(config.queuePath, join(dir, 'agent-data', 'agent.db'));
    assert.equal(config.keyFile, join(dir, 'agent-data', 'agent.key'));
    assert.equal(config.socketPath, join(dir, 'agent-data', 'capture.sock'));
    assert.equal(config.scope, undefined);
  });

  test('the HTTP hook listens on loopback only and needs a token of 32 bytes or more', async () => {
    const wide = await checkAgentConfig(await write(['sources: [corp]', 'capture: { http: { listen: "0.0.0.0:8080", token: file:good.token } }']));
    assert.deepEqual(wide.problems.map((p) => [p.path, p.line]), [['capture.http.listen', 2]]);
    assert.match(wide.problems[0]?.message ?? '', /loopback/);
    const short = await checkAgentConfig(await write(['sources: [corp]', 'capture: { http: { listen: "127.0.0.1:8080", token: file:short.token } }']));
    assert.deepEqual(short.problems.map((p) => p.path), ['capture.http.token']);
    assert.match(short.problems[0]?.message ?? '', /at least 32/);
    assert.doesNotMatch(short.problems[0]?.message ?? '', /too-short/, 'the token itself is never in a message');
    const inline = await checkAgentConfig(await write(['sources: [corp]', `capture: { http: { listen: "[::1]:8080", token: ${'x'.repeat(40)} } }`]));
    assert.deepEqual(inline.problems.map((p) => p.code), ['SECRET_INLINE']);
    const ok = await checkAgentConfig(await write(['sources: [corp]', 'capture: { http: { listen: "localhost:8080", token: file:good.token } }']));
    assert.deepEqual(ok.problems, []);
  });

  test('every problem at once, with its line: no source, an unknown key, a bad duration, a scope without a directory', async () => {
    const r = await checkAgentConfig(await write(['sources: []', 'colour: blue', 'queue: { maxAge: soon }', 'scope: { exclude: [Domain Admins] }']));
    assert.deepEqual(r.problems.map((p) => `${p.path}@${String(p.line)}`).sort(), ['colour@2', 'queue.maxAge@3', 'scope.directory@4', 'sources@1']);
  });
});
