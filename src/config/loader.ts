import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { deepFreeze, withPaths, type Config } from './config.ts';
import { formatProblems, placeProblem, sortProblems, type ConfigIssue, type PathSegment, type PendingProblem } from './problems.ts';
import { WHOLE_ENV_REFERENCE } from '../fields/env.ts';
import { withSecretContext, type SecretContext } from '../fields/secret-ref.ts';
import { resolveEnvReferences } from './references.ts';
import { configSchema, systemSchema, type SystemConfig } from './schema.ts';
import { secretPaths } from './schema-walk.ts';
import { canonicalPath, checkAgents, checkSemantics, sharedFile, systemFiles } from './semantics.ts';
import { SourceFile } from './source.ts';
import { configErrorMap, problemsFromIssues } from './zod-issues.ts';

export interface LoadOptions {
  /** Where `${NAME}` references are looked up; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface CheckResult<T> {
  /** Present when there is no problem. */
  readonly value?: T;
  readonly problems: ConfigIssue[];
  readonly warnings: ConfigIssue[];
}

type Extra<T> = (value: T | undefined, data: unknown, validate: <S extends z.ZodType>(schema: S, data: unknown) => z.output<S> | undefined) => {
  problems: PendingProblem[];
  warnings: PendingProblem[];
};

/**
 * Reads, parses and validates a YAML file against `schema`: every problem at once, each with its
 * path and line. `${NAME}` references are expanded in every string value, and `secretRef()` fields
 * resolve their own. The value is neither path-resolved nor frozen; see {@link checkConfig}.
 */
export async function checkFile<S extends z.ZodType>(file: string, schema: S, options: LoadOptions = {}, extra?: Extra<z.output<S>>): Promise<CheckResult<z.output<S>>> {
  const absolute = resolve(file);
  const env = options.env ?? process.env;
  const read = await SourceFile.read(absolute);
  if (!('source' in read)) return { problems: place(read.problems, undefined), warnings: [] };
  const { source } = read;
  const finish = (problems: PendingProblem[], warnings: PendingProblem[], value?: z.output<S>): CheckResult<z.output<S>> => ({
    ...(value === undefined ? {} : { value }),
    problems: place(problems, source),
    warnings: place([...read.warnings, ...warnings], source),
  });
  // A syntax error stops here: what follows it is the parser's guess. A duplicate key does not:
  // the document is whole, and the rest of it is checked in the same pass.
  if (read.problems.some((p) => p.code !== 'DUPLICATE_KEY')) return finish(read.problems, []);
  const converted = source.toData();
  if ('problem' in converted) return finish([...read.problems, converted.problem], []);
  const raw = converted.data;

  const secrets = secretPaths(schema, raw);
  const problems: PendingProblem[] = [...read.problems];
  const data = resolveEnvReferences(raw, env, secrets, problems);
  source.setSystemNames(data);
  const unresolved = new Set(problems.map((p) => JSON.stringify(p.path)));

  const context: SecretContext = { env, baseDir: dirname(absolute), created: [] };
  const validate = <T extends z.ZodType>(s: T, input: unknown): z.output<T> | undefined => {
    const result = withSecretContext(context, () => s.safeParse(input, { error: configErrorMap }));
    return result.success ? result.data : undefined;
  };
  const result = withSecretContext(context, () => schema.safeParse(data, { error: configErrorMap }));
  if (!result.success) {
    // A value whose reference could not be expanded was validated as written; its problem is the reference.
    for (const p of problemsFromIssues(result.error.issues, schema, data)) {
      if (p.code === 'UNKNOWN_KEY' || !isUnder(p.path, unresolved)) problems.push(p);
    }
  }
  const more = extra?.(result.success ? result.data : undefined, data, validate) ?? { problems: [], warnings: [] };
  problems.push(...more.problems);

  if (problems.length > 0) {
    for (const secret of context.created) secret.dispose();
    return redact(finish(problems, more.warnings), secretValues(raw, secrets, env));
  }
  return redact(finish([], more.warnings, result.data), secretValues(raw, secrets, env));
}

/**
 * Checks a configuration file without using it: every problem and warning, and the configuration
 * when there is no problem.
 */
export async function checkConfig(file: string, options: LoadOptions = {}): Promise<{ config?: Config; problems: ConfigIssue[]; warnings: ConfigIssue[] }> {
  const result = await checkFile(file, configSchema, options, (value, data, validate) => {
    const rawSystems = systemsOf(data);
    const systems: (SystemConfig | undefined)[] = value ? value.systems : rawSystems.map((s) => validate(systemSchema, s));
    const semantics = checkSemantics(systems, rawSystems, dirname(resolve(file)));
    const server = value?.server ?? validate(configSchema.shape.server, fieldOf(data, 'server') ?? {});
    const agents = checkAgents(data, server);
    const own = value === undefined ? [] : ownFileProblems(withPaths(value, resolve(file)));
    return { problems: [...semantics.problems, ...agents.problems, ...own], warnings: [...semantics.warnings, ...agents.warnings] };
  });
  if (result.value === undefined) return { problems: result.problems, warnings: result.warnings };
  return { config: deepFreeze(withPaths(result.value, resolve(file))), problems: [], warnings: result.warnings };
}

/** Loads a configuration file; throws {@link ConfigError} with every problem when there is any. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const { config, problems } = await checkConfig(file, options);
  if (config === undefined) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    throw new ConfigError(`configuration ${file} cannot be used, ${count}:\n${formatProblems(file, problems)}`, problems);
  }
  return config;
}

/** A system's file that is also one of pwsync's own (the store, its key, the log, the intake's keys). */
function ownFileProblems(config: Config): PendingProblem[] {
  const own = new Map<string, string>();
  const name = (file: string, what: string) => {
    const key = canonicalPath(file);
    if (!own.has(key)) own.set(key, what);
  };
  name(config.storePath, 'the store');
  name(config.keyFile, 'the store key');
  if (config.log.file !== undefined) name(config.log.file, 'the log file (log.file)');
  name(config.pki.key, 'the intake\'s TLS key');
  name(config.pki.jweKey, 'the intake\'s JWE key');
  return config.systems.flatMap((system, i) =>
    systemFiles(system, i, config.baseDir).flatMap(({ path, file }) => {
      const what = own.get(file);
      return what === undefined ? [] : [sharedFile(path, file, what)];
    }),
  );
}

function place(problems: readonly PendingProblem[], source: SourceFile | undefined): ConfigIssue[] {
  return sortProblems(problems.map((p) => placeProblem(p, source)));
}

function fieldOf(data: unknown, key: string): unknown {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[key] : undefined;
}

function systemsOf(data: unknown): unknown[] {
  const systems = typeof data === 'object' && data !== null && 'systems' in data ? data.systems : undefined;
  return Array.isArray(systems) ? (systems as unknown[]) : [];
}

function isUnder(path: readonly PathSegment[], prefixes: ReadonlySet<string>): boolean {
  for (let n = path.length; n >= 0; n--) if (prefixes.has(JSON.stringify(path.slice(0, n)))) return true;
  return false;
}

/**
 * The values of environment variables that secret fields name. Resolution never writes them into a
 * message; this is the net under other paths (the same variable used in a plain field).
 */
function secretValues(raw: unknown, paths: ReadonlySet<string>, env: NodeJS.ProcessEnv): Map<string, string> {
  const values = new Map<string, string>();
  for (const key of paths) {
    let value: unknown = raw;
    for (const segment of JSON.parse(key) as PathSegment[]) value = (value as Record<PathSegment, unknown> | undefined)?.[segment];
    const name = typeof value === 'string' ? WHOLE_ENV_REFERENCE.exec(value)?.[1] : undefined;
    const secret = name === undefined ? undefined : env[name];
    if (name !== undefined && secret !== undefined && secret.length >= 4) values.set(secret, `\${${name}}`);
  }
  return values;
}

function redact<T>(result: CheckResult<T>, values: ReadonlyMap<string, string>): CheckResult<T> {
  if (values.size === 0) return result;
  const scrub = (issues: ConfigIssue[]) =>
    issues.map((issue) => {
      let message = issue.message;
      for (const [value, reference] of values) message = message.split(value).join(reference);
      return message === issue.message ? issue : { ...issue, message };
    });
  return { ...result, problems: scrub(result.problems), warnings: scrub(result.warnings) };
}
