import { isUtf8 } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { clearBuffer, Secret } from '../core/secret.ts';
import { WHOLE_ENV_REFERENCE, expandEnv } from './env.ts';
import { errnoText } from './errno.ts';

/**
 * The codes a secret field reports (as the issue's `params.code`); the configuration's problem
 * codes include them.
 */
export type SecretProblemCode =
  | 'ENV_UNSET'
  | 'BAD_REFERENCE'
  | 'SECRET_INLINE'
  | 'SECRET_EMPTY'
  | 'SECRET_NOT_UTF8'
  | 'SECRET_FILE_UNREADABLE'
  | 'SECRET_FILE_MODE'
  | 'SECRET_NO_CONTEXT';

/** What resolving a secret reference needs; set by the loader around validation. */
export interface SecretContext {
  readonly env: NodeJS.ProcessEnv;
  /** `file:` paths are relative to this directory (the configuration file's). */
  readonly baseDir: string;
  /** Every secret made while the context was current, so that a failed load can wipe them. */
  readonly created: Secret[];
}

// zod's `safeParse` is synchronous and so is every transform below, so no other load can run
// between setting and restoring this.
let current: SecretContext | undefined;

/** Runs a synchronous validation with `context` available to the `secretRef()` fields in it. */
export function withSecretContext<T>(context: SecretContext, validate: () => T): T {
  const previous = current;
  current = context;
  try {
    return validate();
  } finally {
    current = previous;
  }
}

/** A secret file larger than this is the wrong file. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

type Issue = { readonly code: SecretProblemCode; readonly message: string };

/**
 * A secret field: a bind password, a database password. The value must be a reference, either
 * `${NAME}` (an environment variable) or `file:PATH` (the file's content without its trailing
 * newline; PATH is relative to the configuration file, may contain `${NAME}`, and must not be
 * accessible to group or others). It yields a {@link Secret}. Inline secrets are refused so that
 * none is ever committed with a configuration file.
 *
 * The field is marked `secret` in the schema's metadata: the loader leaves its value as written
 * for this schema to resolve, and documentation can tell secret fields apart.
 */
export function secretRef() {
  return z
    .string()
    .transform((raw, ctx): Secret => {
      const result = resolveSecret(raw);
      if (result instanceof Secret) return result;
      ctx.addIssue({ code: 'custom', message: result.message, params: { code: result.code } });
      return z.NEVER;
    })
    .meta({ secret: true, description: 'a secret: ${ENV_VAR} or file:PATH' });
}

function resolveSecret(raw: string): Secret | Issue {
  if (current === undefined) {
    return { code: 'SECRET_NO_CONTEXT', message: 'secret references are resolved only when a configuration file is loaded' };
  }
  const context = current;
  const envName = WHOLE_ENV_REFERENCE.exec(raw)?.[1];
  if (envName !== undefined) {
    const value = context.env[envName];
    if (value === undefined) return { code: 'ENV_UNSET', message: `environment variable ${envName} is not set` };
    if (value === '') return { code: 'SECRET_EMPTY', message: `environment variable ${envName} is empty` };
    // Node decodes the environment as UTF-8 and puts U+FFFD in place of each byte it cannot: the
    // secret would be another one than the variable holds. Services take their secrets as text.
    if (value.includes('\uFFFD')) {
      return { code: 'SECRET_NOT_UTF8', message: `environment variable ${envName} holds U+FFFD, what bytes that are not UTF-8 become when read: give the secret in UTF-8, or in a file: reference` };
    }
    return remember(context, Secret.fromString(value));
  }
  if (raw.startsWith('file:')) {
    const expanded = expandEnv(raw.slice('file:'.length), context.env);
    if (!expanded.ok) {
      const message = expanded.unset.length > 0 ? `environment variable ${expanded.unset.join(', ')} is not set` : 'malformed ${NAME} reference in the file path';
      return { code: expanded.unset.length > 0 ? 'ENV_UNSET' : 'BAD_REFERENCE', message };
    }
    if (expanded.value === '') return { code: 'BAD_REFERENCE', message: 'file: needs a path' };
    const file = isAbsolute(expanded.value) ? expanded.value : resolve(context.baseDir, expanded.value);
    const secret = readSecretFile(file);
    return secret instanceof Secret ? remember(context, secret) : secret;
  }
  return { code: 'SECRET_INLINE', message: 'secrets must be given as ${ENV} or file: references' };
}

function remember(context: SecretContext, secret: Secret): Secret {
  context.created.push(secret);
  return secret;
}

/** Reads a secret file into a Secret without the content ever becoming a string. */
function readSecretFile(file: string): Secret | Issue {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return { code: 'SECRET_FILE_UNREADABLE', message: `cannot read secret file ${file}: ${errnoText(e)}` };
  }
  try {
    // fstat on the opened descriptor: the file checked is the file read.
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { code: 'SECRET_FILE_UNREADABLE', message: `secret file ${file} is not a regular file` };
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      return {
        code: 'SECRET_FILE_MODE',
        message: `secret file ${file} is accessible to group or others (mode ${mode}); restrict it with chmod 600`,
      };
    }
    if (stat.size > MAX_SECRET_FILE_BYTES) {
      return { code: 'SECRET_FILE_UNREADABLE', message: `secret file ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes; is it the right file?` };
    }
    const buffer = clearBuffer(MAX_SECRET_FILE_BYTES + 1);
    try {
      let length = 0;
      for (let n = 1; n > 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
      if (length > MAX_SECRET_FILE_BYTES) {
        return { code: 'SECRET_FILE_UNREADABLE', message: `secret file ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes; is it the right file?` };
      }
      // One trailing newline (LF or CRLF) is the editor's, not the secret's.
      if (length > 0 && buffer[length - 1] === 0x0a) {
        length--;
        if (length > 0 && buffer[length - 1] === 0x0d) length--;
      }
      if (length === 0) return { code: 'SECRET_EMPTY', message: `secret file ${file} is empty` };
      // The services pwsync logs in to (LDAP binds, database logins) take their secrets as text.
      if (!isUtf8(buffer.subarray(0, length))) return { code: 'SECRET_NOT_UTF8', message: `secret file ${file} is not valid UTF-8 text` };
      return Secret.fromBytes(buffer.subarray(0, length));
    } finally {
      buffer.fill(0);
    }
  } catch (e) {
    return { code: 'SECRET_FILE_UNREADABLE', message: `cannot read secret file ${file}: ${errnoText(e)}` };
  } finally {
    closeSync(fd);
  }
}
