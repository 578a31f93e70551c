import { isUtf8 } from 'node:buffer';
import { InvalidInputError } from '../core/errors.ts';
import { clearBuffer, Secret } from '../core/secret.ts';

const MAX_SECRET_BYTES = 4096;

/**
 * Reads one password from standard input for scripts: everything up to the first newline (or
 * end of input), without the line ending. The bytes never become a string. A password pwsync is
 * about to set must be UTF-8 (`utf8`); one already set at its source (`pwsync capture`, a hook) is
 * its bytes, whatever they are (`any`).
 */
export async function readSecretFromStream(input: NodeJS.ReadableStream, bytes: 'utf8' | 'any' = 'utf8'): Promise<Secret> {
  const buf = clearBuffer(MAX_SECRET_BYTES + 1);
  let length = 0;
  let done = false;
  try {
    for await (const chunk of input) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      for (const byte of data) {
        if (byte === 0x0a) {
          done = true;
          break;
        }
        if (length > MAX_SECRET_BYTES) break;
        buf[length++] = byte;
      }
      data.fill(0);
      if (done || length > MAX_SECRET_BYTES) break;
    }
    if (length > MAX_SECRET_BYTES) throw new InvalidInputError(`the password is longer than ${MAX_SECRET_BYTES} bytes`);
    if (length > 0 && buf[length - 1] === 0x0d) length--;
    if (length === 0) throw new InvalidInputError('no password on standard input');
    return bytes === 'any' ? Secret.fromBytes(buf.subarray(0, length)) : utf8Secret(buf.subarray(0, length));
  } finally {
    buf.fill(0);
  }
}

/**
 * Prompts on the terminal without echo, as `passwd` does, collecting bytes as they are typed.
 * Backspace erases, Ctrl-C aborts, Enter ends.
 */
// eslint-disable-next-line no-restricted-properties -- the prompt is our own text, written as the terminal's echo is handled here
export async function promptSecret(prompt: string, tty: NodeJS.ReadStream = process.stdin, out: NodeJS.WriteStream = process.stderr): Promise<Secret> {
  if (!tty.isTTY) throw new InvalidInputError('standard input is not a terminal; pass --stdin to read the password from it');
  out.write(prompt);
  const buf = clearBuffer(MAX_SECRET_BYTES);
  let length = 0;
  tty.setRawMode(true);
  tty.resume();
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        for (let i = 0; i < chunk.length; i++) {
          const byte = chunk[i] ?? 0;
          if (byte === 0x03) {
            finish(chunk, i + 1);
            reject(new InvalidInputError('aborted'));
            return;
          }
          if (byte === 0x0d || byte === 0x0a) {
            finish(chunk, i + 1);
            resolve();
            return;
          }
          if (byte === 0x7f || byte === 0x08) {
            // Erase one whole UTF-8 character: drop continuation bytes, then the lead byte.
            while (length > 0 && ((buf[length - 1] ?? 0) & 0xc0) === 0x80) buf[--length] = 0;
            if (length > 0) buf[--length] = 0;
            continue;
          }
          if (length < MAX_SECRET_BYTES) buf[length++] = byte;
        }
        chunk.fill(0);
      };
      // Stop reading at once, and give back what was typed (or pasted) after Enter: it belongs to
      // the next prompt.
      const finish = (chunk: Buffer, used: number): void => {
        tty.off('data', onData);
        tty.pause();
        if (used < chunk.length) tty.unshift(Buffer.from(chunk.subarray(used)));
        chunk.fill(0);
      };
      tty.on('data', onData);
    });
    out.write('\n');
    return utf8Secret(buf.subarray(0, length));
  } finally {
    buf.fill(0);
    tty.setRawMode(false);
  }
}

/**
 * A password typed or piped to pwsync is its exact bytes, and must be UTF-8: bytes in a legacy
 * encoding (a Latin-1 terminal's "é") would be a different password wherever text is taken, and
 * are refused here, where the person can still be asked again.
 */
function utf8Secret(bytes: Buffer): Secret {
  if (!isUtf8(bytes)) throw new InvalidInputError('the password is not valid UTF-8: set the terminal (or the input) to UTF-8 and enter it again');
  return Secret.fromBytes(bytes);
}

/** Prompts twice and insists both match, as an administrator would expect. */
export async function promptNewSecret(tty?: NodeJS.ReadStream, out?: NodeJS.WriteStream): Promise<Secret> {
  const first = await promptSecret('New password: ', tty, out);
  const second = await promptSecret('Retype new password: ', tty, out);
  try {
    if (first.length === 0) throw new InvalidInputError('the password is empty');
    if (!first.equals(second)) throw new InvalidInputError('the passwords do not match');
  } catch (e) {
    first.dispose();
    throw e;
  } finally {
    second.dispose();
  }
  return first;
}
