import { openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger, type DestinationStream } from 'pino';
import { ConfigError } from '../core/errors.ts';

export type { Logger } from 'pino';

/**
 * Keys whose values are never written, at any depth of a log record, whatever their case. A
 * `Secret` already prints as `[secret]`; this is the second fence for values that arrive as plain
 * strings (a request body, a library's options object).
 */
export const REDACT_KEYS: readonly string[] = ['password', 'newPassword', 'oldPassword', 'currentPassword', 'secret', 'token', 'authorization', 'cookie', 'bindPassword', 'key', 'privateKey'];
const REDACTED_KEYS = new Set(REDACT_KEYS.map((k) => k.toLowerCase()));
const CENSOR = '[redacted]';

function isPlain(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` with every redacted key's value replaced, at any depth of plain objects and arrays (class
 * instances print themselves: a Secret as `[secret]`, an error through its serializer). Copies only
 * what changes, so a record without such a key costs one walk and no allocation. This replaced
 * pino's path-based redaction, whose wildcard paths (`*.key`, `*.*.key`) cost the server a tenth of
 * its main thread at 2,000 changes a second and stopped two levels down (docs/benchmarks.md).
 */
export function redact<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  if (!Array.isArray(value) && !isPlain(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    const items: readonly unknown[] = value;
    items.forEach((item, i) => {
      const next = redact(item, seen);
      if (next !== item) (copy ??= [...items])[i] = next;
    });
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  const entries: [string, unknown][] = Object.entries(value as Record<string, unknown>);
  for (const [key, item] of entries) {
    const next = REDACTED_KEYS.has(key.toLowerCase()) && item !== undefined ? CENSOR : redact(item, seen);
    if (next !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = next;
  }
  return (copy ?? value) as T;
}

export interface LogOptions {
  readonly level: string;
  /**
   * Where JSON lines go; standard error when omitted. A path (`log.file`) is opened here, before
   * anything else starts: one that cannot be opened is a {@link ConfigError}, never a process that
   * runs while every line it logs is lost.
   */
  readonly destination?: DestinationStream | string;
  readonly name?: string;
}

/** Structured JSON-lines logger with secret redaction. */
export function createLogger(options: LogOptions): Logger {
  const destination =
    typeof options.destination === 'string'
      ? pino.destination({ dest: openLogFile(options.destination), sync: true })
      : (options.destination ?? pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      name: options.name ?? 'pwsync',
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (record) => redact(record) },
      // A child logger's bindings skip `formatters`: pino's own redaction, on top-level keys only
      // (cheap, unlike its wildcard paths), covers them.
      redact: { paths: [...REDACT_KEYS], censor: CENSOR },
      serializers: { err: serializeError },
    },
    destination,
  );
}

/**
 * Opens `log.file` for appending, synchronously, and answers its descriptor. A missing directory is
 * not made up (a typo in the path would otherwise log where nobody looks): the administrator creates
 * it, with the owner and mode the log should have.
 */
function openLogFile(file: string): number {
  try {
    return openSync(file, 'a', 0o640);
  } catch (e) {
    const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'unknown error';
    const why = code === 'ENOENT' ? `its directory ${dirname(file)} does not exist; create it` : code === 'EACCES' || code === 'EPERM' ? 'permission denied; give this user the right to write it' : code;
    const message = `log.file ${file} cannot be opened (${why}); nothing was started`;
    throw new ConfigError(message, [{ path: 'log.file', message }], { cause: e });
  }
}

/** Errors are logged with their name, code and message (ours never carry a secret) and no stack for ours. */
function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: 'non-error thrown', type: typeof err };
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  const own = code?.startsWith('ERR_') === true && 'retryable' in err;
  return {
    name: err.name,
    ...(code === undefined ? {} : { code }),
    message: err.message,
    ...(own ? {} : { stack: err.stack }),
    ...(err.cause instanceof Error ? { cause: serializeError(err.cause) } : {}),
  };
}

/** A logger that writes nothing, for tests and commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
