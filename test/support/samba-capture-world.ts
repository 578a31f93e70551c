/*
 * Capture at a real Samba AD domain controller, end to end, through the processes a user runs: a
 * private Samba DC with GPG cleartext capture (test/support/samba.ts), a private OpenLDAP with
 * ppolicy (minimum 8 characters, stricter than Samba's 7) and a file of application accounts as
 * targets, a pwsync server (`pwsync server`) that imports the DC as its source (objectGUID anchors,
 * sAMAccountName logins), and a pwsync agent (`pwsync agent`) that runs syncpasswords with
 * native/build/pwsync-samba-hook. Used by test/e2e/samba-capture.e2e.test.ts and bench/capture-samba.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { PEOPLE, startOpenLdapWorld, type OpenLdapWorld } from './connectors/ldap.ts';
import { Secret } from '../../src/core/secret.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { DEFAULT_SAMBA_HOOK } from '../../src/agent/samba/config.ts';
import { dc1TargetAdd, freePort, startTracked } from './agent-world.ts';
import { runCli, type CliProcess, type CliResult } from './cli.ts';
import { startSamba, type SambaDc, type SambaUser } from './samba.ts';

/** The scope's groups in the DC: members of `INCLUDE` are forwarded, unless they are also in `EXCLUDE`. */
export const INCLUDE_GROUP = 'pwsync-sync';
export const EXCLUDE_GROUP = 'pwsync-nosync';

export interface SambaCaptureWorldOptions {
  /** Logins made in the DC, in OpenLDAP and in the application file, with `initialPassword(login)`. */
  readonly users: readonly string[];
  /**
   * Logins made in OpenLDAP and in the application file only, imported with the rest: their DC
   * account is created by the test (`createUser`), after the import.
   */
  readonly later?: readonly string[];
  /** Logins put in {@link INCLUDE_GROUP} / {@link EXCLUDE_GROUP}; with either, the agent gets a scope. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Samba's process model: `single` (default) or `prefork`. */
  readonly processModel?: 'single' | 'prefork';
  /** The agent's and the server's log levels (default debug). */
  readonly agentLogLevel?: string;
  readonly serverLogLevel?: string;
  /** The server's worker settings line (default `{ workers: 4, pollInterval: 20ms }`). */
  readonly serverTuning?: string;
}

export interface SambaCaptureWorld {
  readonly dc: SambaDc;
  readonly ldap: OpenLdapWorld;
  readonly dir: string;
  readonly users: ReadonlyMap<string, SambaUser>;
  /** Every password the world set anywhere, for the leak checks. */
  readonly passwords: string[];
  /** Every byte the CLI printed, for the leak checks. */
  readonly outputs: Buffer[];
  startServer(): Promise<CliProcess>;
  startAgent(): Promise<CliProcess>;
  /** An administrator's reset over LDAPS (`replace: unicodePwd`). */
  reset(login: string, password: string): Promise<void>;
  /** The user's own change over LDAPS (`delete` the old `unicodePwd`, `add` the new). */
  selfChange(login: string, oldPassword: string, newPassword: string): Promise<void>;
  /** `samba-tool user setpassword`. */
  sambaTool(login: string, password: string): Promise<void>;
  /** `samba-tool user create` with a password: an account the server has not imported. */
  createUser(login: string, password: string): Promise<SambaUser>;
  /** Whether the OpenLDAP account binds with `password`. */
  ldapBinds(login: string, password: string): Promise<boolean>;
  /** The OpenLDAP account's DN. */
  ldapDn(login: string): string;
  /** Whether the application file holds `password` for `login`. */
  appsHold(login: string, password: string): Promise<boolean>;
  serverEvents(): Promise<{ code: number; system: string | null; anchor: string | null; changeId: string | null; message: string }[]>;
  agentEvents(): Promise<{ code: number; anchor: string | null; message: string }[]>;
  close(): Promise<void>;
}

export function initialPassword(login: string): string {
  return `Init-${login}-Pw9`;
}

export async function createSambaCaptureWorld(options: SambaCaptureWorldOptions): Promise<SambaCaptureWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-capture-'));
  const passwords: string[] = [];
  const outputs: Buffer[] = [];
  const processes = new Set<CliProcess>();
  let dc: SambaDc | undefined;
  let ldap: OpenLdapWorld | undefined;
  const close = async (): Promise<void> => {
    for (const p of processes) await p.stop('SIGKILL');
    await dc?.stop();
    await ldap?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    [dc, ldap] = await Promise.all([startSamba({ gpg: true, processModel: options.processModel ?? 'single' }), startOpenLdapWorld()]);
    const theDc = dc;
    const theLdap = ldap;
    const ca = await readFile(theDc.caFile);
    const users = new Map<string, SambaUser>();
    const ldapDns = new Map<string, string>();
    for (const login of options.users) {
      users.set(login, await theDc.createUser(login, initialPassword(login)));
      ldapDns.set(login, (await theLdap.addUser(login, initialPassword(login))).dn);
      passwords.push(initialPassword(login));
    }
    for (const login of options.later ?? []) {
      ldapDns.set(login, (await theLdap.addUser(login, initialPassword(login))).dn);
      passwords.push(initialPassword(login));
    }
    const appLogins = [...options.users, ...(options.later ?? [])];
    const scoped = (options.include ?? []).length > 0 || (options.exclude ?? []).length > 0;
    for (const [group, members] of [[INCLUDE_GROUP, options.include ?? []], [EXCLUDE_GROUP, options.exclude ?? []]] as const) {
      if (!scoped) break;
      await theDc.samba(['group', 'add', group]);
      if (members.length > 0) await theDc.samba(['group', 'addmembers', group, members.join(',')]);
    }

    await writeFile(join(dir, 'ad.pw'), theDc.adminPassword, { mode: 0o600 });
    await writeFile(join(dir, 'ldap.pw'), theLdap.servicePassword, { mode: 0o600 });
    await writeFile(join(dir, 'apps.csv'), ['id,login,pw', ...appLogins.map((l, i) => `a${i + 1},${l},`), ''].join('\n'));
    const record = (r: CliResult): CliResult => {
      outputs.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
      return r;
    };
    const must = (r: CliResult, what: string): CliResult => {
      assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
      return r;
    };
    const pki = join(dir, 'pki');
    must(record(await runCli(['pki', 'init', '--dir', pki, '--host', '127.0.0.1'])), 'pki init');
    must(record(await runCli(['pki', 'agent', 'dc1', '--dir', pki])), 'pki agent');
    const port = await freePort();
    const serverConfig = join(dir, 'pwsync.yaml');
    const agentConfig = join(dir, 'agent.yaml');
    await writeFile(serverConfig, `dataDir: ./data
server:
  listen: 127.0.0.1:${port}
  tls: { cert: pki/server.crt, key: pki/server.key, clientCa: pki/ca.crt }
  intake: { jweKey: pki/server-jwe.key }
  ${options.serverTuning ?? 'workers: 4\n  pollInterval: 20ms'}
agents:
  - { name: dc1, certificate: pki/agents/dc1/dc1.crt }
log: { level: ${options.serverLogLevel ?? 'debug'}, file: ./server.log }
systems:
  - name: ad
    connector: ldap
    ldap:
      url: ${theDc.ldapsUrl}
      flavor: ad
      bindDn: "${theDc.adminDn}"
      bindPassword: file:ad.pw
      baseDns: ["CN=Users,${theDc.baseDn}"]
      tls: { ca: ${theDc.caFile} }
    source: { accountAttribute: login, agents: [dc1] }
    import: { anchor: objectGUID, map: { login: sAMAccountName } }
  - name: directory
    connector: ldap
    ldap:
      url: ${theLdap.slapd.ldapsUrl ?? ''}
      bindDn: "cn=pwsync,ou=services,dc=pwsync,dc=test"
      bindPassword: file:ldap.pw
      baseDns: ["${PEOPLE}"]
      tls: { ca: ${theLdap.slapd.caFile ?? ''} }
    import: { anchor: entryUUID, map: { login: uid } }
    join: [{ person: login, account: login }]
    password: { sync: true, retry: { count: 3, interval: 250ms } }
  - name: apps
    connector: file
    file: { path: ./apps.csv, passwordColumn: pw }
    import: { anchor: id, map: { login: login } }
    join: [{ person: login, account: login }]
    password: { sync: true, hash: "{SSHA512}" }
`);
    const scope = scoped
      ? [
        'scope:',
        `  include: [${INCLUDE_GROUP}]`,
        `  exclude: [${EXCLUDE_GROUP}]`,
        '  directory:',
        '    ldap:',
        `      url: ${theDc.ldapsUrl}`,
        `      bindDn: "${theDc.adminDn}"`,
        '      bindPassword: file:ad.pw',
        `      baseDn: "${theDc.baseDn}"`,
        `      tls: { ca: ${theDc.caFile} }`,
      ]
      : [];
    await writeFile(agentConfig, [
      'dataDir: ./agent-data',
      'sources: [ad]',
      `log: { level: ${options.agentLogLevel ?? 'debug'}, file: ./agent.log }`,
      'capture:',
      '  samba:',
      `    smbConf: ${theDc.smbConf}`,
      `    gnupgHome: ${theDc.gnupgHome ?? ''}`,
      `    hook: ${DEFAULT_SAMBA_HOOK}`,
      ...scope,
      '',
    ].join('\n'));
    const cli = async (args: readonly string[]): Promise<CliResult> => record(await runCli([...args, '--config', serverConfig]));
    const agentCli = async (args: readonly string[]): Promise<CliResult> => record(await runCli([...args, '--config', agentConfig]));
    must(await cli(['init']), 'init');
    must(await cli(['import']), 'import');
    must(await agentCli(dc1TargetAdd(pki, `https://127.0.0.1:${port}`)), 'agent target add');
    const start = (args: string[], ready: string): Promise<CliProcess> => startTracked(processes, outputs, args, ready);
    const asAdmin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
      const client = new Client({ url: theDc.ldapsUrl, tlsOptions: { ca: [ca] } });
      try {
        await client.bind(theDc.adminDn, theDc.adminPassword);
        return await fn(client);
      } finally {
        await client.unbind().catch(() => undefined);
      }
    };
    const user = (login: string): SambaUser => {
      const found = users.get(login);
      if (found === undefined) throw new Error(`no user ${login} in this world`);
      return found;
    };
    const unicodePwd = (password: string): Buffer => Buffer.from(`"${password}"`, 'utf16le');
    const appsHash = async (login: string): Promise<string> => {
      const line = (await readFile(join(dir, 'apps.csv'), 'utf8')).split('\n').find((l) => l.split(',')[1] === login);
      return line?.split(',')[2] ?? '';
    };
    const jsonLines = (r: CliResult): unknown[] => r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);

    return {
      dc: theDc,
      ldap: theLdap,
      dir,
      users,
      passwords,
      outputs,
      startServer: () => start(['server', '--config', serverConfig], 'intake listening on'),
      startAgent: () => start(['agent', '--config', agentConfig], 'agent listening on'),
      async reset(login, password) {
        passwords.push(password);
        await asAdmin((client) => client.modify(user(login).dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }) })));
      },
      async selfChange(login, oldPassword, newPassword) {
        passwords.push(newPassword);
        const client = new Client({ url: theDc.ldapsUrl, tlsOptions: { ca: [ca] } });
        try {
          await client.bind(user(login).dn, oldPassword);
          await client.modify(user(login).dn, [
            new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(oldPassword)] }) }),
            new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }) }),
          ]);
        } finally {
          await client.unbind().catch(() => undefined);
        }
      },
      async sambaTool(login, password) {
        passwords.push(password);
        await theDc.samba(['user', 'setpassword', login, `--newpassword=${password}`]);
      },
      async createUser(login, password) {
        passwords.push(password);
        const made = await theDc.createUser(login, password);
        users.set(login, made);
        return made;
      },
      ldapBinds: (login, password) => theLdap.binds(ldapDns.get(login) ?? '', password),
      ldapDn: (login) => ldapDns.get(login) ?? '',
      async appsHold(login, password) {
        const hash = await appsHash(login);
        return hash !== '' && (await verifySecret(hash, Secret.fromString(password)));
      },
      async serverEvents() {
        return jsonLines(must(await cli(['events', '--json', '--limit', '100000']), 'events')) as Awaited<ReturnType<SambaCaptureWorld['serverEvents']>>;
      },
      async agentEvents() {
        const r = must(await agentCli(['agent', 'status', '--json', '--events', '10000']), 'agent status');
        return (JSON.parse(r.stdout) as { events: { code: number; anchor: string | null; message: string }[] }).events;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A password that meets Samba's and OpenLDAP's policies, unique to this call. */
export function freshPassword(prefix = 'Pw'): string {
  return `${prefix}-${randomBytes(6).toString('base64url')}-7x`;
}
