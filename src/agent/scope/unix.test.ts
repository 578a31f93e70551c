/*
 * The NSS scope against this machine's own users and groups: only ones every Debian has (base-passwd).
 * root is in group root, nobody in nogroup — both only as their primary group, with no member
 * listed in /etc/group, which is the case the "empty group" check must not get wrong. `fax` has no
 * member and is nobody's primary group.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { InvalidInputError } from '../../core/errors.ts';
import { createLogger, silentLogger } from '../../log/logger.ts';
import { scopeConfigSchema } from './config.ts';
import { ScopeConfigError } from './errors.ts';
import { openScope, type Scope } from './scope.ts';

async function open(include: string[], exclude: string[] = [], log = silentLogger()): Promise<Scope> {
  return openScope(scopeConfigSchema.parse({ include, exclude, directory: { unix: {} } }), { log, baseDir: tmpdir() });
}

async function startError(include: string[], exclude: string[] = []): Promise<ScopeConfigError> {
  const e = await open(include, exclude).then(async (scope) => {
    await scope.close();
    return undefined;
  }, (err: unknown) => err);
  assert.ok(e instanceof ScopeConfigError, `expected a ScopeConfigError, got ${inspect(e)}`);
  return e;
}

const problems = (e: ScopeConfigError) => e.problems.map((p) => `${p.code} ${p.list ?? '-'} ${p.group ?? '-'}`);

void describe('NSS scope', () => {
  void test('root is in group root; nobody is in nogroup (primary groups count)', async () => {
    const scope = await open(['root', 'nogroup']);
    assert.deepEqual(await scope.decide('root'), { inScope: true });
    assert.deepEqual(await scope.decide('nobody'), { inScope: true });
    assert.match(scope.describe(), /include \[root, nogroup\], exclude \[\].*NSS/);
    const onlyRoot = await open(['root']);
    assert.deepEqual(await onlyRoot.decide('nobody'), { inScope: false, reason: 'not a member of any include group (root)' });
  });

  void test('exclude wins: nobody is out through nogroup, root stays in', async () => {
    const scope = await open([], ['nogroup']);
    assert.deepEqual(await scope.decide('nobody'), { inScope: false, reason: 'member of exclude group "nogroup"' });
    assert.deepEqual(await scope.decide('root'), { inScope: true });
  });

  void test('groups that do not exist are start errors naming each group and its list', async () => {
    const e = await startError(['root', 'pwsync-no-such-group'], ['pwsync-no-such-either']);
    assert.deepEqual(problems(e), ['GROUP_NOT_FOUND include pwsync-no-such-group', 'GROUP_NOT_FOUND exclude pwsync-no-such-either']);
    // A number would be looked up as a gid: 0 would silently mean root.
    assert.deepEqual(problems(await startError(['a:b', '0'])), ['GROUP_NAME_INVALID include a:b', 'GROUP_NAME_INVALID include 0']);
  });

  void test('an include group with no member is a start error; as an exclude group it is logged at info', async () => {
    assert.deepEqual(problems(await startError(['fax'])), ['GROUP_EMPTY include fax']);
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
    const scope = await open([], ['fax'], log);
    assert.deepEqual(await scope.decide('root'), { inScope: true });
    assert.ok(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === 'exclude group has no members'));
  });

  void test('an unknown account is out of scope with the reason; an impossible name is refused', async () => {
    const scope = await open(['root']);
    const decision = await scope.decide('pwsync-no-such-user');
    assert.ok(!decision.inScope);
    assert.match(decision.reason, /"pwsync-no-such-user" is not a user of this host/);
    for (const bad of ['-G', 'a:b', '', 'x\ny', '../root', '0']) await assert.rejects(scope.decide(bad), InvalidInputError, bad);
  });
});
