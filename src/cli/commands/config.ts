import type { Command } from 'commander';
import { checkAgentConfig } from '../../agent/config.ts';
import { checkConfig, formatProblems, type Config, type ConfigIssue } from '../../config/index.ts';
import { createConnector } from '../../connectors/registry.ts';
import { can, type ConnectionReport, type Connector } from '../../connectors/types.ts';
import { protectionOf, type SystemConfig } from '../../config/schema.ts';
import { describeProtection } from '../../server/intake/protection.ts';
import { EXIT } from '../exit-codes.ts';
import { configPath } from '../options.ts';
import { printJson, say, sayError } from '../output.ts';

interface SystemReport extends ConnectionReport {
  readonly system: string;
  readonly connector: string;
}

/** What a source protects from agents, as `config check` shows it (the defaults made explicit). */
interface ProtectionReport {
  readonly system: string;
  readonly protects: string;
}

function protections(config: Config): ProtectionReport[] {
  return config.systems.flatMap((system) => {
    const p = protectionOf(system);
    return p === undefined ? [] : [{ system: system.name, protects: describeProtection(p) }];
  });
}

/**
 * With `--connect`: resolves what a source protects in its directory, so that a protected group
 * that does not exist is reported now, not when the first notification is answered `retry`.
 */
async function resolveProtection(system: SystemConfig, connector: Connector): Promise<ConnectionReport | undefined> {
  const p = protectionOf(system);
  if (p === undefined || (p.groups.length === 0 && !p.adminCount) || !can(connector, 'groupMembers')) return undefined;
  const attribute = system.source?.accountAttribute ?? '';
  const members = await connector.membersOf({ groups: p.groups, accounts: p.accounts, accountAttribute: system.import.map?.[attribute] ?? attribute, marked: p.adminCount });
  const secure = connector.isSecure();
  if (members.problems.length > 0) return { ok: false, secure, identity: '', detail: `source.protect: ${members.problems.join('; ')}` };
  return { ok: true, secure, identity: '', detail: `source.protect: ${members.anchors.size} entries protected from agents (${members.searches} directory reads)` };
}

/**
 * With `--connect`, for a file system: the columns the configuration reads exist in the file's
 * header (the anchor and password columns are checked by the connection test itself). A mapped
 * or joined column that is not there imported nothing and joined no one, without another sign.
 */
async function missingColumns(system: SystemConfig, connector: Connector): Promise<ConnectionReport | undefined> {
  if (system.connector !== 'file' || !can(connector, 'import')) return undefined;
  let columns: ReadonlySet<string> | undefined;
  for await (const record of connector.importAccounts()) {
    columns = new Set(Object.keys(record.attributes));
    break;
  }
  // An empty file has a header the connection test read, but no record to show its columns.
  if (columns === undefined) return undefined;
  const map = system.import.map;
  const wanted: [string, string][] = [];
  for (const [attribute, column] of Object.entries(map ?? {})) wanted.push([`import.map.${attribute}`, column]);
  system.join.forEach((rule, j) => {
    if (map === undefined) wanted.push([`join[${j}].account`, rule.account]);
  });
  if (system.source !== undefined && map === undefined) wanted.push(['source.accountAttribute', system.source.accountAttribute]);
  const missing = wanted.filter(([, column]) => column !== system.import.anchor && !columns.has(column));
  if (missing.length === 0) return undefined;
  const secure = connector.isSecure();
  return { ok: false, secure, identity: '', detail: `the file's header has no column ${missing.map(([key, column]) => `"${column}" (${key})`).join(', ')}` };
}

/** Connects to every system (a bind, a file read) and reports; nothing is written. */
async function connectAll(config: Config): Promise<SystemReport[]> {
  return Promise.all(
    config.systems.map(async (system): Promise<SystemReport> => {
      const connector = createConnector(system, { system: system.name, baseDir: config.baseDir });
      try {
        const report = await connector.testConnection();
        const columns = report.ok ? await missingColumns(system, connector) : undefined;
        const protection = report.ok && columns === undefined ? await resolveProtection(system, connector) : undefined;
        const extra = columns ?? protection;
        const merged = extra === undefined ? report : { ...report, ok: extra.ok, detail: `${report.detail}; ${extra.detail}` };
        return { system: system.name, connector: system.connector, ...merged };
      } catch (e) {
        const detail = e instanceof Error ? e.message : 'unexpected failure';
        return { system: system.name, connector: system.connector, ok: false, secure: connector.isSecure(), identity: '', detail };
      } finally {
        await connector.close();
      }
    }),
  );
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with the configuration file');
  config
    .command('check')
    .description('validate a configuration file without starting anything; every problem is reported with its line')
    .argument('[file]', 'the file (default: the global --config)')
    .option('--json', 'print problems and warnings as JSON')
    .option('--connect', 'also connect to every system (TLS, bind, base DNs, files) and report; nothing is written')
    .option('--agent', 'the file is an agent\'s configuration (pwsync-agent.yaml); found without it when the file has "sources" and no "systems"')
    .action(async (file: string | undefined, opts: { json?: boolean; connect?: boolean; agent?: boolean }) => {
      const path = file ?? configPath(program.opts<{ config?: string }>().config);
      const server = opts.agent === true ? undefined : await checkConfig(path);
      if (server === undefined || isAgentFile(server.problems)) {
        await checkAgentFile(path, opts.json === true);
        return;
      }
      const result = server;
      const connections = opts.connect === true && result.config !== undefined ? await connectAll(result.config) : undefined;
      const ok = result.problems.length === 0 && (connections ?? []).every((c) => c.ok);
      if (opts.json === true) {
        const protects = result.config === undefined ? [] : protections(result.config);
        printJson({ file: path, kind: 'server', ok, problems: result.problems, warnings: result.warnings, protections: protects, ...(connections ? { connections } : {}) });
      } else {
        if (result.problems.length > 0) {
          sayError(`${path}: ${result.problems.length} problem(s)`);
          sayError(...formatProblems(path, result.problems).split('\n'));
        }
        if (result.warnings.length > 0) {
          sayError(`${path}: ${result.warnings.length} warning(s)`);
          sayError(...formatProblems(path, result.warnings).split('\n'));
        }
        for (const p of result.config === undefined ? [] : protections(result.config)) say(`${p.system}: no agent may change ${p.protects}`);
        for (const c of connections ?? []) {
          const line = `${c.system} (${c.connector}): ${c.ok ? 'connected' : 'FAILED'}${c.secure ? '' : ', NOT SECURE'}${c.identity ? ` as ${c.identity}` : ''}: ${c.detail}`;
          if (c.ok) say(line);
          else sayError(line);
        }
        if (ok) say(`${path}: ok (${result.config?.systems.length ?? 0} systems${connections ? ', all connected' : ''})`);
      }
      process.exitCode = ok ? EXIT.ok : EXIT.usage;
    });
}

/** A file with `sources` and no `systems` at its top is an agent's configuration given to the server's check. */
function isAgentFile(problems: readonly ConfigIssue[]): boolean {
  return problems.some((p) => p.code === 'MISSING_KEY' && p.path === 'systems') && problems.some((p) => p.code === 'UNKNOWN_KEY' && p.path === 'sources');
}

/** `config check` of an agent's file: its own keys, names and lines; nothing is created (no data directory, no key). */
async function checkAgentFile(path: string, json: boolean): Promise<void> {
  const result = await checkAgentConfig(path);
  const ok = result.problems.length === 0;
  if (json) {
    printJson({ file: path, kind: 'agent', ok, problems: result.problems, warnings: result.warnings });
  } else {
    if (!ok) {
      sayError(`${path}: agent configuration, ${result.problems.length} problem(s)`);
      sayError(...formatProblems(path, result.problems).split('\n'));
    }
    if (result.warnings.length > 0) {
      sayError(`${path}: ${result.warnings.length} warning(s)`);
      sayError(...formatProblems(path, result.warnings).split('\n'));
    }
    if (ok) say(`${path}: ok (agent configuration, sources ${result.value?.sources.join(', ') ?? ''})`);
  }
  process.exitCode = ok ? EXIT.ok : EXIT.usage;
}
