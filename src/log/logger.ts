import { pino, type Logger, type DestinationStream } from 'pino';

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
  /** Where JSON lines go; standard error when omitted. */
  readonly destination?: DestinationStream | string;
  readonly name?: string;
}

/** Structured JSON-lines logger with secret redaction. */
export function createLogger(options: LogOptions): Logger {
  const destination =
    typeof options.destination === 'string'
      ? pino.destination({ dest: options.destination, append: true, mkdir: true, sync: true })
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
