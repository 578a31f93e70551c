import { isUtf8 } from 'node:buffer';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { InvalidInputError } from '../../core/errors.ts';
import { clearBuffer, Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import { holdsLoneSurrogate } from '../../util/text.ts';
import type { CaptureAcceptor } from './accept.ts';
import { MAX_HEADER_BYTES, parseCaptureHeader, type CaptureAnswer, type CaptureHeader } from './protocol.ts';

/** sockaddr_un's path is 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Whenever the agent owes a connection no answer, the hook has this long to send a whole frame
 * (header and payload): a hook writes its frame at once, so a connection that sends nothing, half
 * a header or a trickle of bytes is closed, and holds no memory or descriptor longer than this.
 */
export const CAPTURE_FRAME_TIMEOUT_MS = 10_000;

export interface CaptureSocket {
  readonly path: string;
  close(): Promise<void>;
}

/** Takes the payload of a `samba-syncpasswords` frame (one account's LDIF); wipes it when done. */
export interface SambaFrameHandler {
  accept(ldif: Buffer, source: string | undefined): Promise<CaptureAnswer>;
}

/** Who takes each kind of frame: passwords always; Samba's LDIF when the agent captures from Samba. */
export interface CaptureHandlers {
  readonly acceptor: CaptureAcceptor;
  readonly samba?: SambaFrameHandler;
}

/**
 * The capture hooks' Unix socket: mode 0600, owned by the agent's user, so only that user (and
 * root) can hand the agent a password. A socket file left by an agent that died is replaced; a
 * live one means another agent is running, and this one refuses to start.
 */
export async function listenCaptureSocket(path: string, handlers: CaptureHandlers, log: Logger): Promise<CaptureSocket> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidInputError(`the capture socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a Unix socket; set capture.socket to a shorter one`);
  }
  await removeStaleSocket(path);
  const connections = new Set<Socket>();
  // Half-open: a hook may end its side once it has written, and still read its answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serve(socket, handlers, log);
  });
  // The socket is created with the process umask: make it 0600 from its first instant, not after.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  return {
    path,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of connections) c.destroy();
      });
      await unlink(path).catch(() => undefined);
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new InvalidInputError(`${path} exists and is not a socket; refusing to replace it (set capture.socket elsewhere)`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new InvalidInputError(`another agent is listening on ${path}; stop it first`);
  await unlink(path);
}

/** Reads frames off one connection, one at a time, and answers each after it is committed. */
function serve(socket: Socket, handlers: CaptureHandlers, log: Logger): void {
  let header: CaptureHeader | undefined;
  let headerBytes: Buffer[] = [];
  let headerLength = 0;
  let password: Buffer | undefined;
  let filled = 0;
  let busy: Promise<void> = Promise.resolve();
  // Answers owed; while there is one, the hook is waiting for us, not we for it.
  let owed = 0;
  let quiet: NodeJS.Timeout | undefined;

  let failed = false;
  const fail = (message: string): void => {
    failed = true;
    for (const b of headerBytes) b.fill(0);
    headerBytes = [];
    password?.fill(0);
    password = undefined;
    socket.end(`${JSON.stringify({ ok: false, error: 'malformed', message } satisfies CaptureAnswer)}\n`);
    socket.destroySoon();
  };

  const onQuiet = (): void => {
    if (header !== undefined || headerLength > 0) {
      log.warn({ timeoutMs: CAPTURE_FRAME_TIMEOUT_MS }, 'a capture hook did not send a whole frame in time; connection closed');
      fail(`a frame must arrive whole within ${CAPTURE_FRAME_TIMEOUT_MS / 1000} s`);
      return;
    }
    socket.destroy();
  };
  const arm = (): void => {
    clearTimeout(quiet);
    quiet = setTimeout(onQuiet, CAPTURE_FRAME_TIMEOUT_MS);
  };
  arm();
  socket.on('close', () => clearTimeout(quiet));

  const take = async (h: CaptureHeader, bytes: Buffer): Promise<CaptureAnswer> => {
    if ('format' in h) {
      try {
        if (handlers.samba === undefined) return { ok: false, error: 'malformed', message: 'this agent does not capture from Samba (capture.samba is not configured)' };
        return await handlers.samba.accept(bytes, h.source);
      } finally {
        bytes.fill(0);
      }
    }
    const secret = Secret.adopt(bytes);
    try {
      return await handlers.acceptor.accept({ account: h.account, source: h.source, changedAt: h.changedAt, secret, via: 'socket' });
    } finally {
      secret.dispose();
    }
  };

  const deliver = (h: CaptureHeader, bytes: Buffer): void => {
    owed += 1;
    clearTimeout(quiet);
    busy = busy.then(async () => {
      let answer: CaptureAnswer;
      try {
        answer = await take(h, bytes);
      } catch (e) {
        log.error({ err: e }, 'capture failed');
        answer = { ok: false, error: 'unavailable', message: 'the agent failed to take the change' };
      }
      if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
      owed -= 1;
      if (owed === 0 && !socket.destroyed) arm();
    });
  };

  /** Reads one chunk of the stream; `fail` ends the connection (the caller wipes the chunk). */
  const read = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      if (header === undefined) {
        const newline = chunk.indexOf(0x0a, offset);
        const end = newline === -1 ? chunk.length : newline;
        headerLength += end - offset;
        if (headerLength > MAX_HEADER_BYTES) return fail(`the header line is longer than ${MAX_HEADER_BYTES} bytes`);
        headerBytes.push(Buffer.from(chunk.subarray(offset, end)));
        offset = end;
        if (newline === -1) break;
        offset += 1;
        const line = Buffer.concat(headerBytes);
        for (const b of headerBytes) b.fill(0);
        headerBytes = [];
        headerLength = 0;
        // Never decoded leniently: U+FFFD in place of a bad byte would forward another account.
        if (!isUtf8(line)) return fail('the header line is not valid UTF-8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(line.toString('utf8'));
        } catch {
          return fail('the header line is not JSON');
        }
        if (holdsLoneSurrogate(parsed)) return fail('a string in the header holds a lone surrogate (a \\uD800-\\uDFFF escape that is not half of a pair): it is not text');
        const result = parseCaptureHeader(parsed);
        if (!result.success) {
          const issue = result.error.issues[0];
          return fail(`bad header: ${issue ? `${issue.path.join('.') || 'header'}: ${issue.message}` : 'invalid'}`);
        }
        header = result.data;
        password = clearBuffer(header.length);
        filled = 0;
      } else if (password !== undefined) {
        const n = Math.min(password.length - filled, chunk.length - offset);
        chunk.copy(password, filled, offset, offset + n);
        offset += n;
        filled += n;
        if (filled === password.length) {
          deliver(header, password);
          header = undefined;
          password = undefined;
        }
      }
    }
  };

  socket.on('data', (chunk: Buffer) => {
    try {
      // After a refusal the connection is closing: what still arrives is only wiped.
      if (!failed) read(chunk);
    } finally {
      // The chunk may hold password bytes (after a header, or after one this connection refused):
      // it is ours now, and nobody reads it again.
      chunk.fill(0);
    }
  });
  socket.on('error', () => {
    password?.fill(0);
  });
  socket.on('end', () => {
    if (header !== undefined) {
      password?.fill(0);
      password = undefined;
      log.warn('a capture hook closed the socket in the middle of a password; nothing was queued');
    }
    void busy.then(() => socket.end());
  });
}
