import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { checkConfig, loadConfig } from './index.ts';
import { protectionOf } from './schema.ts';
import { HR_AND_APPS, summary, tempDir, type TempDir } from '../../test/support/config.ts';

/** One `- name:` block per system; each option is a line under it. */
function system(name: string, ...lines: string[]): string[] {
  return [`  - name: ${name}`, '    connector: file', `    file: { path: ${name}.csv, passwordColumn: pw }`, '    import: { anchor: id, map: { login: user, mail: mail } }', ...lines.map((l) => `    ${l}`)];
}

const SOURCE = 'source: { accountAttribute: login }';
const JOIN = 'join: [{ person: login, account: login }]';
const SYNC = 'password: { sync: true, hash: bcrypt }';

void describe('semantic checks', () => {
  let tmp: TempDir;
  let n = 0;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());
  const check = async (lines: readonly string[]) => checkConfig(await tmp.write(`c${++n}.yaml`, lines));

  void it('accept the smallest configuration that syncs', async () => {
    const { problems, warnings } = await checkConfig(await tmp.write('ok.yaml', HR_AND_APPS));
    assert.deepEqual(problems, []);
    assert.deepEqual(warnings, []);
  });

  void it('refuse a system name used twice, at the second', async () => {
    const { problems } = await check(['systems:', ...system('hr', SOURCE), ...system('apps', JOIN, SYNC), ...system('hr', JOIN)]);
    assert.deepEqual(summary(problems), ['DUPLICATE_SYSTEM systems[2] (hr).name @13', 'SHARED_FILE systems[2] (hr).file.path @15']);
  });

  void it('refuse a join rule on an account attribute that is not imported', async () => {
    const { problems } = await check([
      'systems:',
      ...system('hr', SOURCE),
      ...system('apps', 'join:', '  - { person: login, account: login }', '  - { person: mail, account: email }', SYNC), // rule 2 on line 13
    ]);
    assert.deepEqual(summary(problems), ['JOIN_ATTRIBUTE_NOT_IMPORTED systems[1] (apps).join[1].account @13']);
    assert.match(problems[0]?.message ?? '', /login, mail/);
  });

  void it('accept any join attribute when the import keeps every attribute (no map)', async () => {
    const { problems } = await check([
      'systems:',
      ...system('hr', SOURCE),
      '  - name: apps',
      '    connector: file',
      '    file: { path: apps.csv, passwordColumn: pw }',
      '    import: { anchor: id }',
      '    join: [{ person: login, account: anything }]',
      `    ${SYNC}`,
    ]);
    assert.deepEqual(problems, []);
  });

  void it('refuse password sync into a source system: no loops', async () => {
    const { problems } = await check(['systems:', ...system('hr', SOURCE, SYNC), ...system('apps', JOIN, SYNC)]);
    assert.deepEqual(summary(problems), ['SYNC_INTO_SOURCE systems[0] (hr).password.sync @7']);
    assert.match(problems[0]?.message ?? '', /source/);
  });

  void it('require join rules on every projecting system after the first', async () => {
    const { problems } = await check([
      'systems:',
      ...system('hr', SOURCE), //                         2–6
      ...system('crm', 'projection: true'), //            7–11
      ...system('ad', SOURCE), //                         12–16
      ...system('wiki', 'projection: true', JOIN), //     17–22
      ...system('apps', JOIN, SYNC), //                   23–28
    ]);
    assert.deepEqual(summary(problems), ['PROJECTION_WITHOUT_JOIN systems[1] (crm).projection @11', 'PROJECTION_WITHOUT_JOIN systems[2] (ad).source @16']);
  });

  void it('let a source opt out of projection', async () => {
    const { problems } = await check(['systems:', ...system('hr', SOURCE), ...system('ad', SOURCE, 'projection: false'), ...system('apps', JOIN, SYNC)]);
    assert.deepEqual(problems, []);
  });

  void it('require join rules on a system that takes passwords, unless it projects', async () => {
    const { problems } = await check(['systems:', ...system('hr', SOURCE), ...system('apps', SYNC), ...system('crm', 'projection: false')]);
    assert.deepEqual(summary(problems), ['SYNC_WITHOUT_JOIN systems[1] (apps).password.sync @11']);
    const projecting = await check(['systems:', ...system('hr', SOURCE, 'projection: false'), ...system('apps', 'projection: true', SYNC)]);
    assert.deepEqual(projecting.problems, []);
  });

  void it('require a source when any system takes passwords', async () => {
    const { problems } = await check(['systems:', ...system('crm', 'projection: true'), ...system('apps', JOIN, SYNC)]);
    assert.deepEqual(summary(problems), ['SYNC_WITHOUT_SOURCE systems[1] (apps).password.sync @12']);
    const noSync = await check(['systems:', ...system('crm', 'projection: true'), ...system('apps', JOIN)]);
    assert.deepEqual(noSync.problems, []);
  });

  void it('still check the systems that pass the schema when another does not', async () => {
    const { problems } = await check([
      'systems:',
      ...system('hr', SOURCE, SYNC), //                          2–7
      ...system('apps', JOIN, SYNC, 'colour: blue'), //          8–14
    ]);
    assert.deepEqual(summary(problems), ['SYNC_INTO_SOURCE systems[0] (hr).password.sync @7', 'UNKNOWN_KEY systems[1] (apps).colour @14']);
  });

  void it('refuse a source naming an unregistered agent, and an agent name used twice', async () => {
    const { problems } = await check([
      'agents:',
      '  - { name: dc1, certificate: dc1.crt }',
      '  - { name: dc1, certificate: other.crt }',
      'systems:',
      ...system('hr', 'source: { accountAttribute: login, agents: [dc1, dc2] }'),
      ...system('apps', JOIN, SYNC),
    ]);
    assert.deepEqual(summary(problems), ['DUPLICATE_AGENT agents[1].name @3', 'UNKNOWN_AGENT systems[0] (hr).source.agents[1] @9']);
    assert.match(problems[1]?.message ?? '', /registered: dc1/);
  });

  void it('warn when sources name agents but the intake does not listen, and when the replay window is shorter than an agent queue keeps changes', async () => {
    const { problems, warnings } = await check([
      'server: { intake: { replayWindow: 1h } }',
      'agents: [{ name: dc1, certificate: dc1.crt }]',
      'systems:',
      ...system('hr', 'source: { accountAttribute: login, agents: [dc1] }'),
      ...system('apps', JOIN, SYNC),
    ]);
    assert.deepEqual(problems, []);
    assert.deepEqual(summary(warnings), ['INTAKE_OFF server @1', 'REPLAY_WINDOW_SHORT server.intake.replayWindow @1']);
  });

  void it('refuse source.protect.groups on a kind without groups and adminCount on a source that is not AD; apply the AD default', async () => {
    const ldap = (name: string, flavor: string, protect: string): string[] => [
      `  - name: ${name}`,
      '    connector: ldap',
      `    ldap: { url: "ldaps://dc.example", flavor: ${flavor}, bindDn: "cn=svc", bindPassword: "\${PW}", baseDns: ["dc=example"] }`,
      `    source: { accountAttribute: login${protect} }`,
      '    projection: false',
      '    import: { anchor: objectGUID, map: { login: sAMAccountName } }',
      `    ${JOIN}`,
    ];
    process.env['PW'] = 'placeholder';
    const { problems } = await check([
      'systems:',
      ...system('hr', 'source: { accountAttribute: login, protect: { accounts: [root], groups: [wheel] } }'), // line 6
      ...ldap('dir', 'openldap', ', protect: { adminCount: true }'), //                                       line 10
      ...ldap('ad', 'ad', ''),
      ...ldap('ad2', 'ad', ', protect: { adminCount: false, groups: [Tier0] }'),
      ...system('apps', JOIN, SYNC),
    ]);
    assert.deepEqual(summary(problems), ['PROTECT_GROUPS_UNSUPPORTED systems[0] (hr).source.protect.groups @6', 'PROTECT_ADMINCOUNT_UNSUPPORTED systems[1] (dir).source.protect.adminCount @10']);
    const loaded = await check(['systems:', ...ldap('ad', 'ad', ''), ...ldap('ad2', 'ad', ', protect: { adminCount: false, groups: [Tier0] }'), ...ldap('dir', 'openldap', ''), ...system('apps', JOIN, SYNC)]);
    assert.deepEqual(loaded.problems, []);
    const [ad, ad2, dir] = loaded.config?.systems ?? [];
    assert.ok(ad && ad2 && dir);
    assert.deepEqual([protectionOf(ad)?.adminCount, protectionOf(ad)?.adminCountByDefault], [true, true]);
    assert.deepEqual([protectionOf(ad2)?.adminCount, protectionOf(ad2)?.groups], [false, ['Tier0']]);
    assert.equal(protectionOf(dir), undefined, 'an OpenLDAP source protects nothing unless told');
  });
});

void describe('a target writing into another system\'s file (issue 17, item 3)', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());
  const fileSystem = (name: string, file: string, ...lines: string[]): string[] => [`  - name: ${name}`, '    connector: file', `    file: ${file}`, ...lines.map((l) => `    ${l}`)];

  void it('refuse a target on the source\'s CSV, however its path is spelt (relative, .., a symlink), at check and at load', async () => {
    await mkdir(join(tmp.dir, 'sub'), { recursive: true });
    await writeFile(join(tmp.dir, 'hr.csv'), 'id,login,department\n1,bob,sales\n');
    await symlink(join(tmp.dir, 'hr.csv'), join(tmp.dir, 'link.csv'));
    for (const spelt of ['hr.csv', './sub/../hr.csv', 'link.csv', join(tmp.dir, 'hr.csv')]) {
      const file = await tmp.write(`shared-${spelt.length}.yaml`, [
        'systems:',
        ...fileSystem('hr', '{ path: hr.csv }', 'source: { accountAttribute: login }', 'import: { anchor: id }'), // 2–6
        ...fileSystem('apps', `{ path: "${spelt}", passwordColumn: department }`, 'import: { anchor: id }', 'join: [{ person: login, account: login }]', 'password: { sync: true, hash: bcrypt }'), // 7–9…
      ]);
      const { problems } = await checkConfig(file);
      assert.deepEqual(summary(problems), ['SHARED_FILE systems[1] (apps).file.path @9'], spelt);
      assert.match(problems[0]?.message ?? '', /systems\[0\] \(hr\)/);
      await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigError && /SHARED_FILE|same file/.test(e.message));
    }
  });

  void it('refuse a system file that is one of pwsync\'s own (the store, the log)', async () => {
    const file = await tmp.write('own.yaml', [
      'store: { sqlite: { path: data/../apps.db } }',
      'log: { file: hr.log }',
      'systems:',
      ...fileSystem('hr', '{ path: hr.log }', 'source: { accountAttribute: login }', 'import: { anchor: id }'), // 4–8
      ...fileSystem('apps', '{ path: apps.db, passwordColumn: pw }', 'import: { anchor: id }', 'join: [{ person: login, account: login }]', 'password: { sync: true, hash: bcrypt }'), // 9–…
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['SHARED_FILE systems[0] (hr).file.path @6', 'SHARED_FILE systems[1] (apps).file.path @11']);
    assert.match(problems[0]?.message ?? '', /log file/);
    assert.match(problems[1]?.message ?? '', /the store/);
  });

  void it('refuse a password column that is the anchor, a mapped, a joined or the source\'s account column', async () => {
    const file = await tmp.write('column.yaml', [
      'systems:',
      ...fileSystem('hr', '{ path: hr.csv, passwordColumn: id }', 'source: { accountAttribute: login }', 'import: { anchor: id }'), // 2–6: anchor
      ...fileSystem('apps', '{ path: apps.csv, passwordColumn: dept }', 'import: { anchor: id, map: { login: user, department: dept } }', 'join: [{ person: login, account: login }]', 'password: { sync: true, hash: bcrypt }'), // 7–11: mapped
      ...fileSystem('crm', '{ path: crm.csv, passwordColumn: user }', 'import: { anchor: id }', 'join: [{ person: login, account: user }]', 'password: { sync: true, hash: bcrypt }'), // 12–16: joined
      ...fileSystem('wiki', '{ path: wiki.csv, passwordColumn: login }', 'import: { anchor: id }', 'source: { accountAttribute: login }', 'projection: false'), // 17–21: the account attribute
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), [
      'PASSWORD_COLUMN_IN_USE systems[0] (hr).file.passwordColumn @4',
      'PASSWORD_COLUMN_IN_USE systems[1] (apps).file.passwordColumn @9',
      'PASSWORD_COLUMN_IN_USE systems[2] (crm).file.passwordColumn @15',
      'PASSWORD_COLUMN_IN_USE systems[3] (wiki).file.passwordColumn @21',
    ]);
    assert.match(problems[0]?.message ?? '', /anchor/);
    assert.match(problems[1]?.message ?? '', /import\.map\.department/);
    assert.match(problems[2]?.message ?? '', /join\[0\]/);
    assert.match(problems[3]?.message ?? '', /accountAttribute/);
    await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigError);
  });
});

void describe('config check worth trusting (issue 17)', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('run every rule in one pass: schema, refinements, rules between systems and agents, whatever else failed', async () => {
    const file = await tmp.write('one-pass.yaml', [
      'server: { pollInterval: 0, listen: "0.0.0.0:99999" }', //                  1
      'agents:',
      '  - { name: dc1, certificate: dc1.crt, colour: red }', //                   3
      'systems:',
      '  - name: hr', //                                                           5
      '    connector: file',
      '    file: { path: 5, delimiter: ";", quote: ";" }', //                      7
      '    source: { accountAttribute: login, agents: [dc2] }', //                 8
      '    import: { anchor: id, map: { login: user } }',
      '  - name: apps', //                                                         10
      '    connector: file',
      '    file: { path: apps.csv, passwordColumn: pw, delimitr: x }', //          12
      '    import: { anchor: id, map: { login: user } }',
      '    join: [{ person: logn, account: login }]', //                           14
      '    password: { sync: true, hash: bcrypt }',
      '  - name: crm', //                                                          16
      '    connector: file',
      '    file: { path: crm.csv }',
      '    source: { accountAttribute: login }', //                                19
      '    import: { anchor: id, map: { login: user }, batchSize: 0 }', //         20
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), [
      'INVALID_VALUE server.pollInterval @1',
      'INVALID_VALUE server.listen @1',
      'UNKNOWN_KEY agents[0].colour @3',
      'INVALID_TYPE systems[0] (hr).file.path @7',
      'INVALID_VALUE systems[0] (hr).file.quote @7',
      'UNKNOWN_AGENT systems[0] (hr).source.agents[0] @8',
      'UNKNOWN_KEY systems[1] (apps).file.delimitr @12',
      'JOIN_PERSON_ATTRIBUTE_UNKNOWN systems[1] (apps).join[0].person @14',
      'PROJECTION_WITHOUT_JOIN systems[2] (crm).source @19',
      'INVALID_VALUE systems[2] (crm).import.batchSize @20',
    ]);
    assert.match(problems.find((p) => p.code === 'JOIN_PERSON_ATTRIBUTE_UNKNOWN')?.message ?? '', /did you mean "login"/);
  });

  void it('run the checks between keys of an ldap and an sql block beside the other problems of the block', async () => {
    process.env['PW'] = 'placeholder';
    const file = await tmp.write('blocks.yaml', [
      'systems:',
      '  - name: dir',
      '    connector: ldap',
      '    ldap:',
      '      url: "ldaps://dc.example"',
      '      flavor: ad',
      '      passwordMethod: hash', //                                                          7
      '      bindDn: 5', //                                                                      8
      '      bindPassword: "${PW}"',
      '      baseDns: ["dc=example", "ou=x,dc=example"]', //                                     10
      // Refused, never used to connect: pins with verification off is the tls block's rule between keys.
      '      tls: { rejectUnauthorized: false, pins: ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="], colour: 1 }', // 11
      '    source: { accountAttribute: login }',
      '    import: { anchor: objectGUID, map: { login: sAMAccountName } }',
      '  - name: db',
      '    connector: sql',
      '    sql: { dialect: postgres, host: 5, database: x, user: u, password: "${PW}", tls: { mode: verify-ca, colour: 1 } }', // 16
      '    import: { anchor: id }',
    ]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems).filter((p) => !p.startsWith('MISSING_KEY')), [
      'INVALID_VALUE systems[0] (dir).ldap.passwordMethod @7',
      'INVALID_TYPE systems[0] (dir).ldap.bindDn @8',
      'INVALID_VALUE systems[0] (dir).ldap.baseDns[1] @10',
      'INVALID_VALUE systems[0] (dir).ldap.tls.pins @11',
      'UNKNOWN_KEY systems[0] (dir).ldap.tls.colour @11',
      'INVALID_TYPE systems[1] (db).sql.host @16',
      'INVALID_VALUE systems[1] (db).sql.tls.ca @16',
      'UNKNOWN_KEY systems[1] (db).sql.tls.colour @16',
    ]);
  });

  void it('refuse a join on a person attribute no projecting system imports (a typo joined no one)', async () => {
    const file = await tmp.write('person.yaml', ['systems:', ...system('hr', SOURCE), ...system('apps', 'join: [{ person: mial, account: mail }]', SYNC)]);
    const { problems } = await checkConfig(file);
    assert.deepEqual(summary(problems), ['JOIN_PERSON_ATTRIBUTE_UNKNOWN systems[1] (apps).join[0].person @11']);
    assert.match(problems[0]?.message ?? '', /persons have no attribute "mial".*hr imports \(login, mail\); did you mean "mail"\?/);
  });

  void it('keep durations and ports within sane bounds: pollInterval 0 would make an idle server spin', async () => {
    for (const [line, expected] of [
      ['server: { pollInterval: 0 }', 'INVALID_VALUE server.pollInterval @1'],
      ['server: { pollInterval: 2m }', 'INVALID_VALUE server.pollInterval @1'],
      ['server: { listen: "0.0.0.0:0" }', 'INVALID_VALUE server.listen @1'],
      ['server: { listen: "[::1]:65536" }', 'INVALID_VALUE server.listen @1'],
      ['server: { intake: { replayWindow: 1s } }', 'INVALID_VALUE server.intake.replayWindow @1'],
    ] as const) {
      const { problems } = await checkConfig(await tmp.write(`bounds-${line.length}.yaml`, [line, ...HR_AND_APPS]));
      assert.deepEqual(summary(problems), [expected], line);
      assert.match(problems[0]?.message ?? '', /between/);
    }
    const retry = await checkConfig(await tmp.write('retry.yaml', ['systems:', ...system('hr', SOURCE), ...system('apps', JOIN, 'password: { sync: true, hash: bcrypt, retry: { interval: 0 } }')]));
    assert.deepEqual(summary(retry.problems), ['INVALID_VALUE systems[1] (apps).password.retry.interval @12']);
    const fine = await checkConfig(await tmp.write('fine.yaml', ['server: { pollInterval: 5ms, listen: "127.0.0.1:65535", shutdownGrace: 0 }', ...HR_AND_APPS]));
    assert.deepEqual(fine.problems, []);
  });
});

void describe('semantic warnings', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('warn when a file system takes passwords without a password column or a hash format', async () => {
    const file = await tmp.write('6922.yaml', [
      ...HR_AND_APPS.slice(0, 8),
      '    file: { path: apps.csv }', //                  9
      ...HR_AND_APPS.slice(9, 11),
      '    password: { sync: true }', //                  12
    ]);
    const { config, problems, warnings } = await checkConfig(file);
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.deepEqual(summary(warnings), ['PASSWORD_NOT_CONFIGURED systems[1] (apps).file.passwordColumn @9', 'PASSWORD_NOT_CONFIGURED systems[1] (apps).password.hash @12']);
    assert.ok(warnings.every((w) => w.message.includes('6922')));
  });

  void it('warn when passwords may cross an insecure connection', async () => {
    const file = await tmp.write('insecure.yaml', [...HR_AND_APPS, '    ', '  - name: crm', '    connector: file', '    file: { path: crm.csv }', '    import: { anchor: id }', '    password: { requireSecure: false }']);
    const { problems, warnings } = await checkConfig(file);
    assert.deepEqual(problems, []);
    assert.deepEqual(summary(warnings), ['INSECURE_ALLOWED systems[2] (crm).password.requireSecure @18']);
  });

  void it('come with problems, for the systems that pass the schema', async () => {
    const file = await tmp.write('both.yaml', [
      ...HR_AND_APPS.slice(0, 5),
      '    import: { anchor: 7 }', //                                              6
      ...HR_AND_APPS.slice(6, 11),
      '    password: { sync: true, hash: bcrypt, requireSecure: false }', //       12
      '  - name: crm', //                                                          13
      '    connector: file',
      '    file: { path: crm.csv }',
      '    import: { anchor: id }',
      '    password: { requireSecure: false, retry: { count: x } }', //            17
    ]);
    const { config, problems, warnings } = await checkConfig(file);
    assert.equal(config, undefined);
    assert.deepEqual(summary(problems), ['INVALID_TYPE systems[0] (hr).import.anchor @6', 'INVALID_TYPE systems[2] (crm).password.retry.count @17']);
    assert.deepEqual(summary(warnings), ['INSECURE_ALLOWED systems[1] (apps).password.requireSecure @12']);
  });
});
