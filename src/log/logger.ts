import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values are never written, wherever they appear in a log record. A `Secret` already
 * prints as `[secret]`; this is the second fence for values that arrive as plain strings (a request
 * body, a library's options object).
 */
const REDACT_KEYS = ['password', 'newPassword', 'oldPassword', 'currentPassword', 'secret', 'token', 'authorization', 'cookie', 'bindPassword', 'key', 'privateKey'];

export const REDACT_PATHS: readonly string[] = [
  ...REDACT_KEYS,
  ...REDACT_KEYS.map((k) => `*.${k}`),
  ...REDACT_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

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
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
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
