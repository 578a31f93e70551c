import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../../src/core/secret.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { CliProcess, runCli, type CliResult } from './cli.ts';

/**
 * A whole installation in a temporary directory, driven through the CLI as a user would: a private
 * PKI (`pwsync pki init`, `pwsync pki agent`), a server configuration with the intake on a free
 * loopback port, a source (a CSV "directory") with `accounts` logins u000…, one file target that
 * joins them by login and stores {SSHA512}, an agent configuration and its target.
 */
export interface AgentWorld {
  readonly dir: string;
  readonly serverConfig: string;
  readonly agentConfig: string;
  readonly url: string;
  readonly pki: string;
  readonly logins: readonly string[];
  /** Everything the CLI printed, for the leak check. */
  readonly outputs: Buffer[];
  cli(args: readonly string[], input?: string): Promise<CliResult>;
  agentCli(args: readonly string[], input?: string): Promise<CliResult>;
  startServer(): Promise<CliProcess>;
  startAgent(): Promise<CliProcess>;
  /** The target file's hash for a login ('' when none). */
  targetHash(login: string): Promise<string>;
  /** Whether the target holds `password` for `login`. */
  holds(login: string, password: string): Promise<boolean>;
  serverEvents(): Promise<{ code: number; changeId: string | null; anchor: string | null; message: string }[]>;
  agentStatus(): Promise<{ queue: { length: number }; targets: { name: string; state: { consecutiveFailures: number } }[]; events: { code: number }[] }>;
  close(): Promise<void>;
}

export interface AgentWorldOptions {
  readonly accounts?: number;
  /** The source's logins instead of u000…: e.g. users of this host, for a PAM test. */
  readonly logins?: readonly string[];
  /** Where the world's temporary directory is made (default the system's); for a caller that must remove it on a signal. */
  readonly parentDir?: string;
  /** Extra lines for the agent's configuration. */
  readonly agentYaml?: readonly string[];
  /** Extra agents registered with the server: name → the source systems that list it. */
  readonly otherAgents?: Readonly<Record<string, string>>;
  /** Files written into the world's directory first (mode 0600), e.g. a hook token. */
  readonly files?: Readonly<Record<string, string>>;
  /**
   * The server configuration's lines for the source system `directory` instead of the CSV one
   * (indented as items of `systems`): an LDAP directory, say, whose accounts have a `login`.
   */
  readonly sourceYaml?: readonly string[];
  /** The server's `server.intake.maxBatch` (default the configuration's, 500). */
  readonly maxBatch?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function createAgentWorld(options: AgentWorldOptions = {}): Promise<AgentWorld> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'pwsync-agent-'));
  const outputs: Buffer[] = [];
  const logins = options.logins ?? Array.from({ length: options.accounts ?? 20 }, (_, i) => `u${String(i).padStart(3, '0')}`);
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const pki = join(dir, 'pki');
  const serverConfig = join(dir, 'pwsync.yaml');
  const agentConfig = join(dir, 'agent.yaml');
  const record = (r: CliResult): CliResult => {
    outputs.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
    return r;
  };
  const cli = async (args: readonly string[], input?: string) => record(await runCli([...args, '--config', serverConfig], input === undefined ? {} : { input }));
  const agentCli = async (args: readonly string[], input?: string) => record(await runCli([...args, '--config', agentConfig], input === undefined ? {} : { input }));
  const must = (r: CliResult, what: string): CliResult => {
    assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
    return r;
  };

  await mkdir(join(dir, 'targets'));
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content, { mode: 0o600 });
  await writeFile(join(dir, 'directory.csv'), ['id,login', ...logins.map((l, i) => `${i + 1},${l}`), ''].join('\n'));
  for (const source of new Set(Object.values(options.otherAgents ?? {}))) await writeFile(join(dir, `${source}.csv`), ['id,login', ...logins.map((l, i) => `${i + 1},${l}`), ''].join('\n'));
  await writeFile(join(dir, 'targets', 'apps.csv'), ['id,login,pw', ...logins.map((l, i) => `a${i + 1},${l},`), ''].join('\n'));
  must(record(await runCli(['pki', 'init', '--dir', pki, '--host', '127.0.0.1'])), 'pki init');
  const otherAgents = options.otherAgents ?? {};
  for (const name of ['dc1', ...Object.keys(otherAgents)]) must(record(await runCli(['pki', 'agent', name, '--dir', pki])), `pki agent ${name}`);
  const otherSources = [...new Set(Object.values(otherAgents))];
  await writeFile(
    serverConfig,
    [
      'dataDir: ./data',
      'server:',
      `  listen: 127.0.0.1:${port}`,
      '  tls: { cert: pki/server.crt, key: pki/server.key, clientCa: pki/ca.crt }',
      `  intake: { jweKey: pki/server-jwe.key${options.maxBatch === undefined ? '' : `, maxBatch: ${options.maxBatch}`} }`,
      'agents:',
      ...['dc1', ...Object.keys(otherAgents)].map((name) => `  - { name: ${name}, certificate: pki/agents/${name}/${name}.crt }`),
      'log: { level: debug, file: ./server.log }',
      'systems:',
      ...(options.sourceYaml ?? [
        '  - name: directory',
        '    connector: file',
        '    file: { path: ./directory.csv }',
        '    source: { accountAttribute: login, agents: [dc1] }',
        '    import: { anchor: id, map: { login: login } }',
      ]),
      ...otherSources.flatMap((source) => [
        `  - name: ${source}`,
        '    connector: file',
        // A copy: two systems on one file are refused (issue 17).
        `    file: { path: ./${source}.csv }`,
        `    source: { accountAttribute: login, agents: [${Object.keys(otherAgents).filter((a) => otherAgents[a] === source).join(', ')}] }`,
        '    projection: false',
        '    import: { anchor: id, map: { login: login } }',
        '    join: [{ person: login, account: login }]',
      ]),
      '  - name: apps',
      '    connector: file',
      '    file: { path: ./targets/apps.csv, passwordColumn: pw }',
      '    import: { anchor: id, map: { login: login } }',
      '    join: [{ person: login, account: login }]',
      '    password: { sync: true, hash: "{SSHA512}" }',
      '',
    ].join('\n'),
  );
  await writeFile(agentConfig, ['dataDir: ./agent-data', 'sources: [directory]', 'log: { level: debug, file: ./agent.log }', ...(options.agentYaml ?? []), ''].join('\n'));
  must(await cli(['init']), 'init');
  must(await cli(['import']), 'import');
  must(await agentCli(dc1TargetAdd(pki, url)), 'agent target add');

  const processes = new Set<CliProcess>();
  const start = (args: string[], ready: string): Promise<CliProcess> => startTracked(processes, outputs, args, ready);
  const targetHash = async (login: string): Promise<string> => {
    const line = (await readFile(join(dir, 'targets', 'apps.csv'), 'utf8')).split('\n').find((l) => l.split(',')[1] === login);
    return line?.split(',')[2] ?? '';
  };
  return {
    dir,
    serverConfig,
    agentConfig,
    url,
    pki,
    logins,
    outputs,
    cli,
    agentCli,
    startServer: () => start(['server', '--config', serverConfig], 'intake listening on'),
    startAgent: () => start(['agent', '--config', agentConfig], 'agent listening on'),
    targetHash,
    async holds(login, password) {
      const hash = await targetHash(login);
      return hash !== '' && (await verifySecret(hash, Secret.fromString(password)));
    },
    async serverEvents() {
      const r = must(await cli(['events', '--json', '--limit', '100000']), 'events');
      return r.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { code: number; changeId: string | null; anchor: string | null; message: string });
    },
    async agentStatus() {
      const r = must(await agentCli(['agent', 'status', '--json', '--events', '1000']), 'agent status');
      return JSON.parse(r.stdout) as Awaited<ReturnType<AgentWorld['agentStatus']>>;
    },
    async close() {
      for (const p of processes) await p.stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `pwsync agent target add main …` with agent dc1's files from `pki` (made by `pwsync pki agent dc1`). */
export function dc1TargetAdd(pki: string, url: string): string[] {
  const a = join(pki, 'agents', 'dc1');
  return ['agent', 'target', 'add', 'main', '--url', url, '--ca', join(a, 'ca.crt'), '--cert', join(a, 'dc1.crt'), '--key', join(a, 'dc1.key'), '--server-key', join(a, 'server-jwe.pub.json'), '--retry-interval', '10s'];
}

/**
 * Starts `pwsync ARGS` and resolves once it printed `ready`; it stays in `processes` until it exits,
 * and its output then joins `outputs` (for the leak checks).
 */
export async function startTracked(processes: Set<CliProcess>, outputs: Buffer[], args: readonly string[], ready: string): Promise<CliProcess> {
  const p = new CliProcess(args);
  processes.add(p);
  p.child.on('exit', () => {
    outputs.push(p.outputBytes);
    processes.delete(p);
  });
  await p.waitFor(ready, 60_000);
  return p;
}

/** Polls `check` until it holds or `ms` pass. */
export async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export { assertNoPasswords } from './leaks.ts';
