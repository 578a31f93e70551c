import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from './index.ts';
import { HR_AND_APPS, summary, tempDir, type TempDir } from '../../test/support/config.ts';

void describe('environment references in a configuration', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('are expanded in any string value', async () => {
    const file = await tmp.write('env.yaml', [
      'dataDir: ${STATE}/pwsync', //                       1
      'log: { level: "${LEVEL}", file: "$${literal}" }', // 2
      ...HR_AND_APPS.slice(0, 11),
      '    password: { sync: true, hash: bcrypt, retry: { interval: "${RETRY}" } }',
    ]);
    const { config, problems } = await checkConfig(file, { env: { STATE: '/var/lib', LEVEL: 'debug', RETRY: '2m' } });
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.equal(config.dataDir, '/var/lib/pwsync');
    assert.equal(config.log.level, 'debug');
    assert.ok(config.log.file?.endsWith('/${literal}'));
    assert.equal(config.systems[1]?.password.retry.interval, 120_000);
  });

  void it('name an unset variable with the path and line, once per use', async () => {
    const file = await tmp.write('unset.yaml', [
      'dataDir: ${STATE}/pwsync', //                     1
      'log: { level: "${LEVEL}" }', //                   2
      ...HR_AND_APPS.slice(0, 3),
      '    file: { path: "${HR_DIR}/hr.csv" }', //       6
      ...HR_AND_APPS.slice(4),
    ]);
    const { problems } = await checkConfig(file, { env: {} });
    assert.deepEqual(summary(problems), ['ENV_UNSET dataDir @1', 'ENV_UNSET log.level @2', 'ENV_UNSET systems[0] (hr).file.path @6']);
    assert.match(problems[0]?.message ?? '', /\bSTATE\b/);
    assert.match(problems[2]?.message ?? '', /\bHR_DIR\b/);
  });

  void it('report a malformed reference', async () => {
    const file = await tmp.write('malformed.yaml', ['dataDir: "${STATE"', ...HR_AND_APPS]);
    const { problems } = await checkConfig(file, { env: { STATE: '/x' } });
    assert.deepEqual(summary(problems), ['BAD_REFERENCE dataDir @1']);
  });

  void it('use process.env by default', async () => {
    const file = await tmp.write('process-env.yaml', ['dataDir: ${PWSYNC_TEST_STATE}', ...HR_AND_APPS]);
    process.env['PWSYNC_TEST_STATE'] = '/srv/pwsync';
    try {
      const { config } = await checkConfig(file);
      assert.equal(config?.dataDir, '/srv/pwsync');
    } finally {
      delete process.env['PWSYNC_TEST_STATE'];
    }
  });

  void it('show the resolved system name in problem paths', async () => {
    const file = await tmp.write('name.yaml', [
      'systems:',
      '  - name: ${SYS}',
      '    connector: file',
      '    file: { path: a.csv }',
      '    import: { anchor: 7 }', // 5
    ]);
    const { problems } = await checkConfig(file, { env: { SYS: 'crm' } });
    assert.deepEqual(summary(problems), ['INVALID_TYPE systems[0] (crm).import.anchor @5']);
  });
});
