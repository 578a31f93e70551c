import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { Secret } from '../core/secret.ts';
import { secretRef, withSecretContext } from '../fields/secret-ref.ts';
import { checkFile } from './index.ts';
import { summary, tempDir, type TempDir } from '../../test/support/config.ts';

/** A connector-like schema with secret fields, as ldap and sql will have. */
const schema = z.strictObject({
  name: z.string(),
  directory: z.strictObject({
    url: z.string(),
    bindPassword: secretRef(),
    fallbackPassword: secretRef().optional(),
  }),
});

const VALUE = 'Tr0ub4dor&3-correct-horse';

async function clear(secret: Secret | undefined): Promise<string | undefined> {
  return secret?.use((bytes) => bytes.toString('utf8'));
}

void describe('secretRef()', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('reads an environment variable into a Secret', async () => {
    const file = await tmp.write('env.yaml', ['name: corp', 'directory:', '  url: ldaps://${HOST}', '  bindPassword: ${BIND_PW}']);
    const result = await checkFile(file, schema, { env: { BIND_PW: VALUE, HOST: 'dc1.corp.test' } });
    assert.deepEqual(result.problems, []);
    assert.ok(result.value);
    const secret = result.value.directory.bindPassword;
    assert.ok(secret instanceof Secret);
    assert.equal(await clear(secret), VALUE);
    assert.equal(result.value.directory.url, 'ldaps://dc1.corp.test');
    assert.equal(result.value.directory.fallbackPassword, undefined);
    assert.equal(JSON.stringify(result.value), '{"name":"corp","directory":{"url":"ldaps://dc1.corp.test","bindPassword":"[secret]"}}');
  });

  void it('reads a file relative to the configuration, without its trailing newline', async () => {
    await tmp.write('secrets/bind', `${VALUE}\n`, 0o600);
    await tmp.write('secrets/crlf', `${VALUE}\r\n`, 0o400);
    const file = await tmp.write('file.yaml', [
      'name: corp',
      'directory:',
      '  url: ldaps://dc1',
      '  bindPassword: file:secrets/bind',
      '  fallbackPassword: "file:${CREDS}/crlf"',
    ]);
    const result = await checkFile(file, schema, { env: { CREDS: `${tmp.dir}/secrets` } });
    assert.deepEqual(result.problems, []);
    assert.equal(await clear(result.value?.directory.bindPassword), VALUE);
    assert.equal(await clear(result.value?.directory.fallbackPassword), VALUE);
  });

  void it('refuses a file that group or others can read, a missing one and an empty one', async () => {
    await tmp.write('open/bind', VALUE, 0o644);
    await tmp.write('open/empty', '\n', 0o600);
    const file = await tmp.write('open.yaml', [
      'name: corp', //                         1
      'directory:', //                         2
      '  url: ldaps://dc1', //                 3
      '  bindPassword: file:open/bind', //     4
      '  fallbackPassword: file:open/none', // 5
    ]);
    const result = await checkFile(file, schema, {});
    assert.equal(result.value, undefined);
    assert.deepEqual(summary(result.problems), ['SECRET_FILE_MODE directory.bindPassword @4', 'SECRET_FILE_UNREADABLE directory.fallbackPassword @5']);
    assert.match(result.problems[0]?.message ?? '', /0644/);

    const empty = await tmp.write('empty.yaml', ['name: corp', 'directory:', '  url: ldaps://dc1', '  bindPassword: file:open/empty']);
    assert.deepEqual(summary((await checkFile(empty, schema, {})).problems), ['SECRET_EMPTY directory.bindPassword @4']);
  });

  void it('refuses an inline secret, and never repeats a secret in a message', async () => {
    const file = await tmp.write('inline.yaml', [
      `name: ${VALUE}`, //                      1: not a secret field, but the same text
      'directory:', //                         2
      `  url: 5`, //                            3
      `  bindPassword: ${VALUE}`, //            4
      `  fallbackPassword: "x\${PW}"`, //       5: a reference, but not the whole value
    ]);
    const result = await checkFile(file, schema, { env: { PW: VALUE } });
    assert.deepEqual(summary(result.problems), [
      'INVALID_TYPE directory.url @3',
      'SECRET_INLINE directory.bindPassword @4',
      'SECRET_INLINE directory.fallbackPassword @5',
    ]);
    for (const problem of result.problems) assert.ok(!problem.message.includes(VALUE));
  });

  void it('names an unset variable, and wipes the secrets made when the load fails', async () => {
    const file = await tmp.write('unset.yaml', ['name: corp', 'directory:', '  url: ldaps://dc1', '  bindPassword: ${SET}', '  fallbackPassword: ${UNSET}']);
    const made: Secret[] = [];
    const original = Secret.fromString.bind(Secret);
    Secret.fromString = (text: string) => {
      const secret = original(text);
      made.push(secret);
      return secret;
    };
    try {
      const result = await checkFile(file, schema, { env: { SET: VALUE } });
      assert.deepEqual(summary(result.problems), ['ENV_UNSET directory.fallbackPassword @5']);
      assert.match(result.problems[0]?.message ?? '', /\bUNSET\b/);
    } finally {
      Secret.fromString = original;
    }
    assert.equal(made.length, 1);
    assert.ok(made.every((s) => s.disposed));
  });

  void it('keeps a secret out of messages even where a plain field repeats its variable', async () => {
    const file = await tmp.write('reuse.yaml', ['name: corp', 'directory:', '  url: 5', '  bindPassword: ${PW}']);
    const shout = z.strictObject({
      name: z.string().refine((v) => v === 'x', { error: (issue) => `"${String(issue.input)}" is not x` }),
      directory: schema.shape.directory,
    });
    const leaky = await tmp.write('leaky.yaml', ['name: ${PW}', 'directory:', '  url: u', '  bindPassword: ${PW}']);
    const result = await checkFile(leaky, shout, { env: { PW: VALUE } });
    assert.deepEqual(summary(result.problems), ['INVALID_VALUE name @1']);
    assert.ok(!result.problems[0]?.message.includes(VALUE));
    assert.ok(result.problems[0]?.message.includes('${PW}'));
    assert.deepEqual(summary((await checkFile(file, schema, { env: { PW: VALUE } })).problems), ['INVALID_TYPE directory.url @3']);
  });

  void it('finds secret fields in the variant a discriminator written as a reference selects', async () => {
    const kinds = z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('ldap'), bindPassword: secretRef() }),
      z.strictObject({ kind: z.literal('sql'), url: z.string() }),
    ]);
    const file = await tmp.write('kind.yaml', ['kind: ${KIND}', 'bindPassword: ${PW}']);
    const result = await checkFile(file, kinds, { env: { KIND: 'ldap', PW: VALUE } });
    assert.deepEqual(result.problems, []);
    assert.ok(result.value?.kind === 'ldap');
    assert.equal(await clear(result.value.bindPassword), VALUE);
  });

  void it('is refused outside a load, and resolves inside withSecretContext', () => {
    const field = secretRef();
    const outside = field.safeParse('${PW}');
    assert.equal(outside.success, false);
    const inside = withSecretContext({ env: { PW: VALUE }, baseDir: '/', created: [] }, () => field.safeParse('${PW}'));
    assert.ok(inside.success && inside.data instanceof Secret);
  });
});
