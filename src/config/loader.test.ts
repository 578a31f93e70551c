import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, UnknownSystemError } from '../core/errors.ts';
import { checkConfig, formatProblems, loadConfig, systemByName } from './index.ts';
import { HR_AND_APPS, codes, summary, tempDir, type TempDir } from '../../test/support/config.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

void describe('loadConfig: a valid file', () => {
  void it('applies the defaults and parses durations', async () => {
    const config = await loadConfig(join(FIXTURES, 'valid.yaml'));
    const [hr, apps] = config.systems;
    assert.ok(hr && apps);
    assert.deepEqual(hr.password.retry, { count: 10, interval: 60_000 });
    assert.equal(hr.password.requireSecure, true);
    assert.equal(hr.password.sync, false);
    assert.equal(hr.import.batchSize, 5000);
    assert.deepEqual(hr.join, []);
    assert.equal(apps.password.retry.interval, 5 * 60_000);
    assert.equal(apps.password.retry.count, 10);
    assert.equal(apps.join[0]?.match, 'caseInsensitive');
    assert.equal(apps.password.hash?.format, 'argon2id');
    assert.deepEqual(config.server, {
      workers: 32,
      pollInterval: 25,
      shutdownGrace: 10_000,
      tls: {},
      intake: { replayWindow: 7 * 86_400_000, maxBodyBytes: 1024 * 1024, maxBatch: 500 },
    });
    assert.deepEqual(config.agents, []);
    assert.deepEqual(config.pki, {
      cert: join(config.dataDir, 'pki', 'server.crt'),
      key: join(config.dataDir, 'pki', 'server.key'),
      clientCa: join(config.dataDir, 'pki', 'ca.crt'),
      jweKey: join(config.dataDir, 'pki', 'server-jwe.key'),
    });
    assert.equal(config.log.level, 'info');
  });

  void it('gives every system defaults of its own', async () => {
    const config = await loadConfig(join(FIXTURES, 'valid.yaml'));
    assert.notEqual(config.systems[0]?.password.retry, config.systems[1]?.password.retry);
  });

  void it('resolves its own paths against the file, and leaves connector paths as written', async () => {
    const file = join(FIXTURES, 'valid.yaml');
    const config = await loadConfig(file);
    assert.equal(config.file, file);
    assert.equal(config.baseDir, FIXTURES);
    assert.equal(config.dataDir, join(FIXTURES, 'state'));
    assert.equal(config.storePath, join(FIXTURES, 'state', 'pwsync.db'));
    assert.equal(config.keyFile, join(FIXTURES, 'state', 'store.key'));
    assert.equal(config.log.file, join(FIXTURES, 'logs', 'pwsync.log'));
    const apps = systemByName(config, 'apps');
    assert.equal(apps.connector === 'file' ? apps.file.path : undefined, './apps/users.csv');
  });

  void it('resolves relative paths against the file, not the working directory', async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.cleanup());
    const file = await tmp.write('etc/pwsync.yaml', [
      'dataDir: ../var',
      'store: { sqlite: { path: db/main.db } }',
      'key: { file: /secure/store.key }',
      ...HR_AND_APPS,
    ]);
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      const config = await loadConfig('etc/pwsync.yaml');
      assert.equal(config.file, file);
      assert.equal(config.dataDir, join(tmp.dir, 'var'));
      assert.equal(config.storePath, join(tmp.dir, 'etc', 'db', 'main.db'));
      assert.equal(config.store?.sqlite.path, config.storePath);
      assert.equal(config.keyFile, '/secure/store.key');
      assert.equal(config.log.file, undefined);
    } finally {
      process.chdir(cwd);
    }
  });

  void it('is deeply frozen', async () => {
    const config = await loadConfig(join(FIXTURES, 'valid.yaml'));
    const apps = systemByName(config, 'apps');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.systems));
    assert.ok(Object.isFrozen(apps.password.retry));
    assert.ok(Object.isFrozen(apps.join[0]));
    assert.ok(Object.isFrozen(apps.import.map));
    assert.throws(() => {
      apps.password.retry.count = 1;
    }, TypeError);
    assert.throws(() => {
      config.systems.push(apps);
    }, TypeError);
  });
});

void describe('systemByName', () => {
  void it('finds a system, and names the configured ones when it cannot', async () => {
    const config = await loadConfig(join(FIXTURES, 'valid.yaml'));
    assert.equal(systemByName(config, 'hr').name, 'hr');
    assert.throws(
      () => systemByName(config, 'payroll'),
      (e: unknown) => e instanceof UnknownSystemError && e.message.includes('hr, apps'),
    );
  });
});

void describe('problems', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('reports every problem at once, each with its path and line, in file order', async () => {
    const { config, problems } = await checkConfig(join(FIXTURES, 'many-problems.yaml'));
    assert.equal(config, undefined);
    assert.deepEqual(summary(problems), [
      'INVALID_VALUE server.workers @3',
      'UNKNOWN_KEY server.pollIntervall @4',
      'INVALID_VALUE systems[1] (apps-db).file.encoding @13',
      'MISSING_KEY systems[1] (apps-db).import.anchor @14',
      'INVALID_TYPE systems[1] (apps-db).password.sync @16',
      'INVALID_VALUE systems[1] (apps-db).password.hash @17',
      'INVALID_VALUE systems[1] (apps-db).password.retry.count @18',
      'INVALID_VALUE systems[1] (apps-db).password.retry.interval @18',
    ]);
    assert.deepEqual(
      problems.map((p) => p.column),
      [12, 3, 39, 13, 13, 13, 23, 37],
    );
  });

  void it('loadConfig throws a ConfigError that carries all of them', async () => {
    const file = join(FIXTURES, 'many-problems.yaml');
    await assert.rejects(loadConfig(file), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'ERR_CONFIG');
      assert.equal(e.problems.length, 8);
      assert.match(e.message, /many-problems\.yaml:4:3 {2}server\.pollIntervall {2}/);
      return true;
    });
  });

  void it('names an unknown key and its line, and suggests the one meant', async () => {
    const file = await tmp.write('unknown-key.yaml', [
      ...HR_AND_APPS.slice(0, 11),
      '    password: { sync: true, hash: bcrypt, requireSecur: false }', // 12
      'colour: blue', //                                                    13
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['UNKNOWN_KEY systems[1] (apps).password.requireSecur @12', 'UNKNOWN_KEY colour @13']);
    assert.match(problems[0]?.message ?? '', /"requireSecure"/);
    assert.equal(problems[0]?.column, 43);
  });

  void it('points a missing key at the mapping it belongs in', async () => {
    const file = await tmp.write('missing.yaml', [
      'systems:', //                     1
      '  - name: hr', //                 2
      '    connector: file', //          3
      '    file:', //                    4
      '      delimiter: ";"', //         5
      '    source: { match: exact }', // 6
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), [
      'MISSING_KEY systems[0] (hr).import @2',
      'MISSING_KEY systems[0] (hr).file.path @5',
      'MISSING_KEY systems[0] (hr).source.accountAttribute @6',
    ]);
  });

  void it('names an unknown connector kind and a missing one', async () => {
    const file = await tmp.write('connector.yaml', [
      'systems:', //                    1
      '  - name: a', //                 2
      '    connector: ldapx', //        3
      '    import: { anchor: id }', //  4
      '  - name: b', //                 5
      '    import: { anchor: id }', //  6
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['INVALID_VALUE systems[0] (a).connector @3', 'MISSING_KEY systems[1] (b).connector @5']);
    assert.match(problems[0]?.message ?? '', /file/);
  });

  void it('reports a value of the wrong type without quoting it', async () => {
    const file = await tmp.write('types.yaml', ['dataDir: [a, b]', 'server: { workers: "eight" }', ...HR_AND_APPS]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['INVALID_TYPE dataDir @1', 'INVALID_TYPE server.workers @2']);
    assert.ok(!problems.some((p) => p.message.includes('eight')));
  });

  void it('reports a YAML syntax error with its line and column', async () => {
    const file = await tmp.write('syntax.yaml', ['dataDir: ./data', 'systems:', '  - name: "hr', '    connector: file']);
    const { problems } = await checkConfig(file);
    assert.deepEqual(codes(problems), ['YAML_SYNTAX']);
    assert.equal(problems[0]?.line, 5);
    const bad = await tmp.write('indent.yaml', ['server:', '  workers: 2', ' pollInterval: 1s', ...HR_AND_APPS]);
    const indent = await checkConfig(bad);
    assert.deepEqual(
      indent.problems.map((p) => [p.code, p.line, p.column]),
      [['YAML_SYNTAX', 3, 1]],
    );
  });

  void it('stops at the first syntax error and never shows a value as a path: a tab in the indentation, an inline secret (issue 17, item 8)', async () => {
    const file = await tmp.write('tab.yaml', [
      'systems:',
      '  - name: dir',
      '    connector: ldap',
      '    ldap:',
      '      url: ldaps://dc.example',
      '\tbindDn: cn=svc', //                           6: a tab
      '      bindPassword: Sup3rSecretInline',
      '      baseDns: [dc=example]',
      '    import: { anchor: entryUUID }',
      ...HR_AND_APPS.slice(1),
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['YAML_SYNTAX  @6']);
    assert.match(problems[0]?.message ?? '', /tab/);
    const shown = JSON.stringify(problems) + formatProblems(file, problems);
    assert.ok(!shown.includes('Sup3rSecretInline'), shown);
    assert.ok(!shown.includes('cn=svc'), shown);
  });

  void it('shows a key written as a mapping by its size, never its content', async () => {
    const file = await tmp.write('complex-key.yaml', ['? { bindPassword: Sup3rSecretInline, other: stuff }', ': 1', ...HR_AND_APPS]);
    const { problems } = await checkConfig(file);
    assert.equal(problems.length, 1);
    const shown = JSON.stringify(problems) + formatProblems(file, problems);
    assert.ok(!shown.includes('Sup3rSecretInline'), shown);
    assert.equal(problems[0]?.line, 1);
  });

  void it('shows a long key by its size', async () => {
    const long = `k${'x'.repeat(100)}`;
    const file = await tmp.write('long-key.yaml', [`"${long}": 1`, ...HR_AND_APPS]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['UNKNOWN_KEY [<a key of 101 characters>] @1']);
    assert.ok(!JSON.stringify(problems).includes(long));
  });

  void it('hints at quoting a reference written inside a flow mapping', async () => {
    const file = await tmp.write('flow.yaml', ['dataDir: ./data', 'log: { file: ${LOG_FILE} }', ...HR_AND_APPS]);
    const { problems } = await checkConfig(file, { env: { LOG_FILE: 'x' } });
    assert.match(problems[0]?.message ?? '', /quoted/);
    assert.deepEqual(summary(problems.slice(0, 1)), ['YAML_SYNTAX log.file @2']);
  });

  void it('refuses a duplicate key, at the second one', async () => {
    const file = await tmp.write('duplicate.yaml', [
      ...HR_AND_APPS.slice(0, 9),
      '    import: { anchor: uid }', // 10
      '    import: { anchor: id }', //  11
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['DUPLICATE_KEY systems[1] (apps).import @11']);
    assert.match(problems[0]?.message ?? '', /line 10/);
  });

  void it('checks the rest of a file with a duplicate key in the same pass', async () => {
    const file = await tmp.write('duplicate-and-more.yaml', ['log: { level: info, level: debug }', 'server: { workers: 0 }', ...HR_AND_APPS]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['DUPLICATE_KEY log.level @1', 'INVALID_VALUE server.workers @2']);
  });

  void it('names a missing file, an empty one and one that is not a mapping', async () => {
    const missing = join(tmp.dir, 'nope.yaml');
    const none = await checkConfig(missing);
    assert.deepEqual(codes(none.problems), ['FILE_UNREADABLE']);
    assert.ok(none.problems[0]?.message.includes(missing));
    await assert.rejects(loadConfig(missing), ConfigError);

    const empty = await checkConfig(await tmp.write('empty.yaml', '# nothing yet\n'));
    assert.deepEqual(codes(empty.problems), ['INVALID_TYPE']);

    const list = await checkConfig(await tmp.write('list.yaml', ['- a', '- b']));
    assert.deepEqual(summary(list.problems), ['INVALID_TYPE  @1']);
    const none2 = await checkConfig(await tmp.write('none.yaml', ['systems: []']));
    assert.deepEqual(summary(none2.problems), ['INVALID_VALUE systems @1']);
  });

  void it('places a problem in aliased content at its anchor', async () => {
    const file = await tmp.write('alias.yaml', [
      'x-retry: &retry { count: -5 }', // 1: an unknown key too
      ...HR_AND_APPS.slice(0, 11),
      '    password: { sync: true, hash: bcrypt, retry: *retry }', // 13
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['UNKNOWN_KEY x-retry @1', 'INVALID_VALUE systems[1] (apps).password.retry.count @1']);
  });
});

void describe('formatProblems', () => {
  void it('renders FILE:LINE:COL  PATH  MESSAGE, one per line', () => {
    const text = formatProblems('pwsync.yaml', [
      { path: 'systems[1] (apps).password.hash', message: 'expected one of: bcrypt', line: 7, column: 13 },
      { path: '', message: 'cannot read configuration file' },
    ]);
    assert.equal(text, 'pwsync.yaml:7:13  systems[1] (apps).password.hash  expected one of: bcrypt\npwsync.yaml  cannot read configuration file');
  });
});

void describe('checkConfig', () => {
  void it('returns the configuration with its warnings when there is no problem', async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.cleanup());
    const file = await tmp.write('ok.yaml', [...HR_AND_APPS.slice(0, 11), '    password: { sync: true, hash: bcrypt, requireSecure: false }']);
    const result = await checkConfig(file);
    assert.deepEqual(result.problems, []);
    assert.equal(result.config?.file, resolve(file));
    assert.deepEqual(summary(result.warnings), ['INSECURE_ALLOWED systems[1] (apps).password.requireSecure @12']);
  });

  void it('refuses an sql system with tls.mode verify-ca and no tls.ca, at check and at load, naming the field', async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.cleanup());
    const file = await tmp.write('verify-ca.yaml', [
      ...HR_AND_APPS.slice(0, 6),
      '  - name: billing', //                                                        7
      '    connector: sql', //                                                       8
      '    sql:', //                                                                 9
      '      dialect: postgres', //                                                 10
      '      host: db.example.org', //                                              11
      '      database: billing', //                                                 12
      '      user: pwsync', //                                                      13
      '      password: file:db.pw', //                                              14
      '      tls: { mode: verify-ca }', //                                          15
      '      query: SELECT id, login FROM users', //                                16
      '      setPassword: { statement: "UPDATE users SET pw = :hash WHERE id = :anchor" }',
      '    import: { anchor: id, map: { login: login } }',
      '    join: [{ person: login, account: login }]',
      '    password: { sync: true, hash: bcrypt }',
    ]);
    await tmp.write('db.pw', 'not-a-real-password', 0o600);
    const result = await checkConfig(file);
    assert.deepEqual(summary(result.problems), ['INVALID_VALUE systems[1] (billing).sql.tls.ca @15']);
    await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.path === 'systems[1] (billing).sql.tls.ca'));
  });
});
