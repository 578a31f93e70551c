import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors.ts';
import { durationSchema, formatDuration } from '../../fields/duration.ts';
import { agentConfigPath } from '../../agent/config.ts';
import { openAgentData, type AgentData } from '../../agent/data.ts';
import { createConnection } from 'node:net';
import type { Target } from '../../agent/queue/index.ts';
import { iso, printJson, printTable, say, sayError } from '../output.ts';
import { registerAgentPam } from './agent-pam.ts';
import { startAgent } from '../../main.ts';

/** `pwsync agent …`: the reference's PCNS service and its pcnscfg. */
export function registerAgent(program: Command): void {
  const configFile = () => agentConfigPath(program.opts<{ config?: string }>().config);
  const agent = program
    .command('agent')
    .description('the agent on a source: takes captured changes from hooks, queues them encrypted, delivers them to the servers (config: --config, $PWSYNC_AGENT_CONFIG or ./pwsync-agent.yaml)');

  agent
    .command('run', { isDefault: true })
    .description('run the agent until stopped (SIGINT/SIGTERM); the default of "pwsync agent"')
    .action(async () => {
      const running = await startAgent(configFile());
      say(`agent listening on ${running.socketPath}${running.httpUrl ? ` and ${running.httpUrl}` : ''}`);
      await new Promise<void>((done) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.once(signal, () => process.exit(130));
          sayError('', `${signal}: stopping the agent (queued changes stay queued)`);
          done();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      await running.stop();
    });

  const target = agent.command('target').description('the servers this agent delivers to, in failover order (pcnscfg)');
  target
    .command('add')
    .description('add a server to deliver to (the files are those "pwsync pki agent" wrote)')
    .argument('<name>', 'a name for the target')
    .requiredOption('--url <url>', 'the server intake, https://HOST:PORT')
    .requiredOption('--ca <file>', "the CA certificate the server's certificate must chain to (pinned; the system's CAs are not used)")
    .requiredOption('--cert <file>', "this agent's client certificate")
    .requiredOption('--key <file>', "this agent's private key")
    .requiredOption('--server-key <file>', "the server's public JWE key (server-jwe.pub.json)")
    .option('--retry-interval <duration>', 'longest wait between attempts while the server is away: 10s to 1h', '60s')
    .option('--position <n>', 'place in the failover order (1 = first); default last')
    .option('--disabled', 'add it disabled')
    .action(async (name: string, opts: { url: string; ca: string; cert: string; key: string; serverKey: string; retryInterval: string; position?: string; disabled?: boolean }) => {
      const url = parseUrl(opts.url);
      const files = { caFile: resolve(opts.ca), certFile: resolve(opts.cert), keyFile: resolve(opts.key), serverKeyFile: resolve(opts.serverKey) };
      await checkTargetFiles(files);
      await withAgentData(configFile(), async ({ store }) => {
        const added = await store.addTarget({
          name,
          url,
          ...files,
          enabled: opts.disabled !== true,
          retryIntervalMs: parseRetryInterval(opts.retryInterval),
          ...(opts.position === undefined ? {} : { position: parsePosition(opts.position) }),
        });
        say(`target "${added.name}" added at position ${added.position}${added.enabled ? '' : ' (disabled)'}`);
      });
    });
  target
    .command('remove')
    .description('remove a target')
    .argument('<name>')
    .action(async (name: string) => {
      await withAgentData(configFile(), async ({ store }) => {
        await store.removeTarget(name);
        say(`target "${name}" removed`);
      });
    });
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    target
      .command(verb)
      .description(`${verb} a target (a running agent follows within a second)`)
      .argument('<name>')
      .action(async (name: string) => {
        await withAgentData(configFile(), async ({ store }) => {
          await store.setTargetEnabled(name, enabled);
          say(`target "${name}" ${verb}d`);
        });
      });
  }
  target
    .command('set')
    .description("change a target's retry interval or its place in the failover order")
    .argument('<name>')
    .option('--retry-interval <duration>', 'longest wait between attempts while the server is away: 10s to 1h')
    .option('--position <n>', 'place in the failover order (1 = first)')
    .action(async (name: string, opts: { retryInterval?: string; position?: string }) => {
      if (opts.retryInterval === undefined && opts.position === undefined) throw new InvalidInputError('nothing to change: give --retry-interval or --position');
      const retryIntervalMs = opts.retryInterval === undefined ? undefined : parseRetryInterval(opts.retryInterval);
      const position = opts.position === undefined ? undefined : parsePosition(opts.position);
      await withAgentData(configFile(), async ({ store }) => {
        if (retryIntervalMs !== undefined) await store.setTargetRetryInterval(name, retryIntervalMs);
        const changed = position === undefined ? await store.getTarget(name) : await store.moveTarget(name, position);
        say(`target "${name}": position ${String(changed?.position)}, retry interval ${formatDuration(changed?.retryIntervalMs ?? 0)}`);
      });
    });
  target
    .command('list')
    .description('the targets in failover order, with their state')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withAgentData(configFile(), async ({ store }) => {
        const targets = await store.listTargets();
        if (opts.json === true) return printJson(targets);
        printTargets(targets);
      });
    });

  agent
    .command('queue')
    .description('the changes waiting for delivery, oldest first (no password is shown, or kept readable)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new InvalidInputError(`--limit must be a whole number from 1 to 100000, not "${opts.limit}"`);
      await withAgentData(configFile(), async ({ store }) => {
        const items = await store.peek(limit);
        if (opts.json === true) return printJson(items);
        printTable(
          ['ID', 'SOURCE', 'ACCOUNT', 'CHANGED', 'CAPTURED', 'SCOPE', 'ATTEMPTS', 'LAST ERROR'],
          items.map((i) => [i.id, i.source, i.account, iso(i.changedAt), iso(i.capturedAt), i.scope, String(i.attempts), i.lastError ?? '']),
          '(the queue is empty)',
        );
      });
    });

  registerAgentPam(agent, configFile, () => program.opts<{ config?: string }>().config !== undefined || process.env['PWSYNC_AGENT_CONFIG'] !== undefined);

  agent
    .command('status')
    .description('queue length and age, targets and recent events (the reference: pcnscfg list)')
    .option('--events <n>', 'how many recent events to show', '10')
    .option('--json', 'print JSON')
    .action(async (opts: { events: string; json?: boolean }) => {
      const limit = Number(opts.events);
      if (!Number.isInteger(limit) || limit < 0 || limit > 10_000) throw new InvalidInputError(`--events must be a whole number from 0 to 10000, not "${opts.events}"`);
      await withAgentData(configFile(), async ({ config, store }) => {
        const stats = await store.stats();
        const targets = await store.listTargets();
        const events = limit === 0 ? [] : await store.listEvents({ limit });
        const running = await answers(config.socketPath);
        const status = {
          running,
          sources: config.sources,
          socket: config.socketPath,
          http: config.capture.http?.listen ?? null,
          scope: config.scope === undefined ? null : { include: config.scope.include, exclude: config.scope.exclude },
          queue: { ...stats, maxLength: config.queue.maxLength, maxAge: config.queue.maxAge },
          targets,
          events,
        };
        if (opts.json === true) return printJson(status);
        say(`agent:    ${running ? 'running' : 'NOT RUNNING: changes captured now are refused by the hooks; start it with "pwsync agent"'}`);
        say(`sources:  ${config.sources.join(', ')}`);
        say(`socket:   ${config.socketPath}`, ...(config.capture.http ? [`http:     ${config.capture.http.listen}`] : []));
        say(`scope:    ${config.scope === undefined ? 'everyone' : `include [${config.scope.include.join(', ')}], exclude [${config.scope.exclude.join(', ')}]`}`);
        say(
          `queue:    ${stats.length} change(s)${stats.oldestCapturedAt === null ? '' : `, oldest captured ${iso(stats.oldestCapturedAt)}`}; limits ${config.queue.maxLength} changes, ${formatDuration(config.queue.maxAge)}`,
        );
        say('');
        printTargets(targets);
        if (events.length > 0) {
          say('');
          printTable(['TIME', 'CODE', 'SYSTEM', 'ACCOUNT', 'MESSAGE'], events.map((e) => [iso(e.at), String(e.code), e.system ?? '', e.anchor ?? '', e.message]));
        }
      });
    });
}

function printTargets(targets: readonly Target[]): void {
  printTable(
    ['#', 'NAME', 'URL', 'ENABLED', 'RETRY', 'LAST SUCCESS', 'FAILURES', 'NEXT ATTEMPT', 'LAST ERROR'],
    targets.map((t) => [
      String(t.position),
      t.name,
      t.url,
      t.enabled ? 'yes' : 'no',
      formatDuration(t.retryIntervalMs),
      iso(t.state.lastSuccessAt),
      String(t.state.consecutiveFailures),
      iso(t.state.nextAttemptAt),
      t.state.consecutiveFailures > 0 ? (t.state.lastError ?? '') : '',
    ]),
    '(no target: add one with "pwsync agent target add")',
  );
}

async function withAgentData<T>(configFile: string, fn: (data: AgentData) => Promise<T>): Promise<T> {
  const data = await openAgentData(configFile);
  try {
    return await fn(data);
  } finally {
    await data.close();
  }
}

function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(`--url "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new InvalidInputError(`--url must be https:// (mutual TLS), not ${url.protocol}`);
  return url.origin;
}

/** As the reference: 10 s to 1 h. */
function parseRetryInterval(value: string): number {
  const parsed = durationSchema.safeParse(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
  if (!parsed.success) throw new InvalidInputError(`--retry-interval: not a duration: "${value}" (use e.g. 30s, 5m, 1h)`);
  if (parsed.data < 10_000 || parsed.data > 3_600_000) throw new InvalidInputError(`--retry-interval must be from 10s to 1h, not ${value}`);
  return parsed.data;
}

/**
 * The files a target needs, checked when it is added rather than at the first delivery: the CA
 * and certificate parse, the key is the agent's own (mode 0600) and the server key is a public JWK.
 */
async function checkTargetFiles(files: { caFile: string; certFile: string; keyFile: string; serverKeyFile: string }): Promise<void> {
  const { X509Certificate, createPrivateKey } = await import('node:crypto');
  const { readPrivateFile, readText } = await import('../../pki/files.ts');
  const { loadJwePublicKey } = await import('../../pki/jwe-key.ts');
  for (const [file, what] of [[files.caFile, '--ca'], [files.certFile, '--cert']] as const) {
    try {
      new X509Certificate(await readText(file, what));
    } catch (e) {
      throw new InvalidInputError(`${what} ${file}: ${e instanceof Error ? e.message : 'not a PEM certificate'}`);
    }
  }
  const key = await readPrivateFile(files.keyFile, '--key');
  try {
    createPrivateKey(key);
  } catch {
    throw new InvalidInputError(`--key ${files.keyFile} is not a PEM private key`);
  }
  await loadJwePublicKey(files.serverKeyFile);
}

function parsePosition(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`--position must be a whole number from 1, not "${value}"`);
  return n;
}

/**
 * Whether an agent listens on its capture socket. Asking the socket, not the agent's lock: taking
 * the lock even for a moment could make an agent that starts at that instant refuse to run.
 */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath);
    const done = (running: boolean) => {
      probe.destroy();
      resolve(running);
    };
    probe.setTimeout(1000, () => done(false));
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}
