import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { checkFile, formatProblems, type CheckResult, type LoadOptions } from '../config/index.ts';
import type { PendingProblem } from '../config/problems.ts';
import { durationBetween } from '../fields/duration.ts';
import { portInRange } from '../config/schema.ts';
import { secretRef } from '../fields/secret-ref.ts';
import { ConfigError } from '../core/errors.ts';
import { resolveSambaCapture, sambaCaptureSchema, type SambaCaptureConfig } from './samba/config.ts';
import { scopeConfigSchema } from './scope/config.ts';

const systemName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a system name as the server\'s configuration spells it');

/** Loopback only: the HTTP hook carries passwords in the clear, protected by the host alone. */
const loopbackListen = z
  .string()
  .regex(/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d{1,5}$/, 'a loopback address and port (127.0.0.1:PORT, [::1]:PORT or localhost:PORT): the hook is never reachable from the network')
  // Port 0: any free port, which the agent prints at start (for tests and a co-located application told at run time).
  .refine((listen) => portInRange(listen, 0), 'the port must be between 0 (any free port) and 65535');

/**
 * The agent's configuration file (`pwsync-agent.yaml`). Targets are not in it: they are kept in
 * the agent's database and changed with `pwsync agent target …`, so that they can change while
 * the agent runs, as the reference's pcnscfg does.
 */
export const agentConfigSchema = z.strictObject({
  /** Queue database and its key; relative to this file. */
  dataDir: z.string().min(1).default('./agent-data'),
  /** The source systems (names in the server's configuration) this agent captures changes of; the first is the default. */
  sources: z.array(systemName).min(1, 'name at least one source system'),
  capture: z
    .strictObject({
      /** The Unix socket capture hooks write to (mode 0600); default `<dataDir>/capture.sock`. */
      socket: z.string().min(1).optional(),
      /** An HTTP hook for applications that report their own password changes. */
      http: z
        .strictObject({
          listen: loopbackListen,
          /** A bearer token, by `${ENV}` or `file:` reference; at least 32 characters. */
          token: secretRef(),
        })
        .optional(),
      /** Capture on a Samba AD domain controller through `samba-tool user syncpasswords` (docs/sources/samba-ad.md). */
      samba: sambaCaptureSchema.optional(),
      /** The PAM module (pam_pwsync) at this host. */
      pam: z
        .strictObject({
          /**
           * The file pam_pwsync appends a line to for each change it could not hand over (the agent
           * down, slow or refusing); read, reported as event 7050 and emptied at start and every 10 s.
           * Off by default.
           */
          missedFile: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  scope: scopeConfigSchema.optional(),
  queue: z
    .strictObject({
      /** A change not delivered within this is dropped with event 7041 (the reference: 72 hours). */
      maxAge: durationBetween(60_000, 366 * 86_400_000).default(72 * 3_600_000),
      /** Captures beyond this many queued changes are refused with event 7042. */
      maxLength: z.number().int().min(1).max(10_000_000).default(100_000),
    })
    .prefault({}),
  delivery: z
    .strictObject({
      /** Most notifications per request. */
      batchSize: z.number().int().min(1).max(10_000).default(200),
      /** How long one request may take before the server counts as unreachable. */
      timeout: durationBetween(1000, 600_000).default(30_000),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      file: z.string().min(1).optional(),
    })
    .prefault({}),
});

export type RawAgentConfig = z.output<typeof agentConfigSchema>;

/** A loaded agent configuration, with its paths absolute. */
export type AgentConfig = Readonly<
  RawAgentConfig & {
    file: string;
    baseDir: string;
    dataDir: string;
    /** `<dataDir>/agent.db`. */
    queuePath: string;
    /** `<dataDir>/agent.key`. */
    keyFile: string;
    socketPath: string;
    /** `capture.samba`, resolved; undefined when the agent does not capture from Samba. */
    samba: SambaCaptureConfig | undefined;
    /** `capture.pam.missedFile`, absolute; undefined when off. */
    pamMissedFile: string | undefined;
  }
>;

/** The agent's configuration file: --config, then $PWSYNC_AGENT_CONFIG, then ./pwsync-agent.yaml. */
export function agentConfigPath(option: string | undefined): string {
  return option ?? process.env['PWSYNC_AGENT_CONFIG'] ?? 'pwsync-agent.yaml';
}

export async function checkAgentConfig(file: string, options: LoadOptions = {}): Promise<CheckResult<AgentConfig>> {
  const result = await checkFile(file, agentConfigSchema, options, (value) => {
    const problems: PendingProblem[] = [];
    const token = value?.capture.http?.token;
    if (token !== undefined && token.length < 32) {
      problems.push({ code: 'INVALID_VALUE', path: ['capture', 'http', 'token'], message: `the hook token has ${token.length} bytes; use at least 32 (e.g. openssl rand -base64 32)` });
    }
    const sambaSource = value?.capture.samba?.source;
    if (sambaSource !== undefined && !value?.sources.includes(sambaSource)) {
      problems.push({ code: 'INVALID_VALUE', path: ['capture', 'samba', 'source'], message: `"${sambaSource}" is not one of this agent's sources (${value?.sources.join(', ') ?? ''})` });
    }
    return { problems, warnings: [] };
  });
  if (result.value === undefined) return { problems: result.problems, warnings: result.warnings };
  const absolute = resolve(file);
  const baseDir = dirname(absolute);
  const raw = result.value;
  const dataDir = resolve(baseDir, raw.dataDir);
  return {
    value: {
      ...raw,
      log: { ...raw.log, ...(raw.log.file === undefined ? {} : { file: resolve(baseDir, raw.log.file) }) },
      file: absolute,
      baseDir,
      dataDir,
      queuePath: resolve(dataDir, 'agent.db'),
      keyFile: resolve(dataDir, 'agent.key'),
      socketPath: resolve(baseDir, raw.capture.socket ?? resolve(dataDir, 'capture.sock')),
      samba: raw.capture.samba === undefined ? undefined : resolveSambaCapture(raw.capture.samba, { baseDir, dataDir, defaultSource: raw.sources[0] ?? '' }),
      pamMissedFile: raw.capture.pam?.missedFile === undefined ? undefined : resolve(baseDir, raw.capture.pam.missedFile),
    },
    problems: [],
    warnings: result.warnings,
  };
}

export async function loadAgentConfig(file: string, options: LoadOptions = {}): Promise<AgentConfig> {
  const { value, problems } = await checkAgentConfig(file, options);
  if (value === undefined) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    throw new ConfigError(`agent configuration ${file} cannot be used, ${count}:\n${formatProblems(file, problems)}`, problems);
  }
  return value;
}
