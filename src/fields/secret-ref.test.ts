import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { Secret } from '../core/secret.ts';
import { secretRef, withSecretContext, type SecretContext } from './secret-ref.ts';

/*
 * The field alone. How the loader finds secret fields, places their problems in the file and keeps
 * secrets out of messages is tested with it: config/secret-fields.test.ts.
 */

const VALUE = 'Tr0ub4dor&3-correct-horse';

/** Parses `raw` with a fresh context; the Secret (or the problem's code) and the secrets made. */
function parse(raw: string, env: NodeJS.ProcessEnv, baseDir = '/'): { secret?: Secret; code?: unknown; created: Secret[] } {
  const context: SecretContext = { env, baseDir, created: [] };
  const result = withSecretContext(context, () => secretRef().safeParse(raw));
  if (result.success) return { secret: result.data, created: context.created };
  return { code: codeOf(result.error), created: context.created };
}

/** The problem code a refusal carries, as the loader reads it. */
function codeOf(error: z.ZodError): unknown {
  const issue = error.issues[0];
  return issue?.code === 'custom' ? issue.params?.['code'] : issue?.code;
}

async function clear(secret: Secret | undefined): Promise<string | undefined> {
  return secret?.use((bytes) => bytes.toString('utf8'));
}

void describe('secretRef()', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-fields-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  void it('reads a whole ${NAME} reference into a Secret, and remembers it in the context', async () => {
    const { secret, created } = parse('${PW}', { PW: VALUE });
    assert.ok(secret instanceof Secret);
    assert.equal(await clear(secret), VALUE);
    assert.deepEqual(created, [secret]);
  });

  void it('refuses an unset or empty variable, an inline secret and a reference inside other text', () => {
    assert.equal(parse('${PW}', {}).code, 'ENV_UNSET');
    assert.equal(parse('${PW}', { PW: '' }).code, 'SECRET_EMPTY');
    assert.equal(parse(VALUE, { PW: VALUE }).code, 'SECRET_INLINE');
    assert.equal(parse('x${PW}', { PW: VALUE }).code, 'SECRET_INLINE');
  });

  void it('reads a file relative to the base directory without its trailing newline, the path expanded', async () => {
    await writeFile(join(dir, 'lf'), `${VALUE}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'crlf'), `${VALUE}\r\n`, { mode: 0o400 });
    assert.equal(await clear(parse('file:lf', {}, dir).secret), VALUE);
    assert.equal(await clear(parse('file:${WHERE}/crlf', { WHERE: dir }).secret), VALUE);
    assert.equal(parse('file:${WHERE}/crlf', {}).code, 'ENV_UNSET');
    assert.equal(parse('file:', {}).code, 'BAD_REFERENCE');
  });

  void it('refuses a file that group or others can read, a missing one and an empty one', async () => {
    await writeFile(join(dir, 'open'), VALUE);
    await chmod(join(dir, 'open'), 0o644);
    await writeFile(join(dir, 'empty'), '\n', { mode: 0o600 });
    assert.equal(parse('file:open', {}, dir).code, 'SECRET_FILE_MODE');
    assert.equal(parse('file:none', {}, dir).code, 'SECRET_FILE_UNREADABLE');
    assert.equal(parse('file:empty', {}, dir).code, 'SECRET_EMPTY');
  });

  void it('refuses a secret that is not UTF-8 text: a file of other bytes, a variable that Node read as U+FFFD', async () => {
    await writeFile(join(dir, 'latin1'), Buffer.from('caf\xe9-Secret1\n', 'latin1'), { mode: 0o600 });
    assert.equal(parse('file:latin1', {}, dir).code, 'SECRET_NOT_UTF8');
    assert.equal(parse('${PW}', { PW: 'caf\uFFFD-Secret1' }).code, 'SECRET_NOT_UTF8');
    await writeFile(join(dir, 'utf8'), 'café-Secret1\n', { mode: 0o600 });
    assert.equal(await clear(parse('file:utf8', {}, dir).secret), 'café-Secret1');
  });

  void it('is refused outside a load', () => {
    const outside = secretRef().safeParse('${PW}');
    assert.ok(!outside.success);
    assert.equal(codeOf(outside.error), 'SECRET_NO_CONTEXT');
  });

  void it('is marked secret in the schema metadata, for the loader and the docs', () => {
    assert.equal(z.globalRegistry.get(secretRef())?.['secret'], true);
  });
});
