import { lstatSync, realpathSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { PwsyncError, TransientError } from '../../core/errors.ts';
import { clearBuffer, type Secret } from '../../core/secret.ts';
import { captureAnswerSchema, type CaptureAnswer } from './protocol.ts';

export interface CaptureRequest {
  readonly account: string;
  readonly source?: string;
  readonly changedAt?: number;
  readonly secret: Secret;
}

/** The capture socket could have been put there by someone other than the agent: nothing was sent. */
export class CaptureSocketUntrustedError extends PwsyncError {
  readonly code = 'ERR_CAPTURE_SOCKET_UNTRUSTED';
}

/**
 * Refuses a socket that anyone but root or the agent's user can have put at `socketPath`. Node
 * cannot ask who listens (no SO_PEERCRED, which the PAM module and the Samba hook use), so this
 * checks who can have made it: the socket's directory (links resolved) writable by neither its
 * group nor others, owned by root, by this process's user, or by a user whose directory only root
 * can have made (its parent is root's alone); the socket itself owned by root or the directory's
 * owner. Then only those two can replace it between this check and the connection. A socket that
 * is not there is left to the connection to report (no agent listening).
 */
export function checkCaptureSocket(socketPath: string): void {
  let dir: string;
  try {
    dir = realpathSync(dirname(socketPath));
  } catch {
    return;
  }
  const st = statSync(dir);
  const refuse = (why: string): never => {
    throw new CaptureSocketUntrustedError(`not sending to ${socketPath}: ${why}; anyone there could listen in the agent's place`);
  };
  if (!st.isDirectory()) refuse(`${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) refuse(`its directory ${dir} is writable by ${(st.mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`);
  if (st.uid !== 0 && st.uid !== process.getuid?.()) {
    const parent = statSync(dirname(dir));
    if (parent.uid !== 0 || (parent.mode & 0o022) !== 0) refuse(`its directory ${dir} belongs to uid ${String(st.uid)}, and ${dirname(dir)} is not root's alone`);
  }
  let socket;
  try {
    socket = lstatSync(join(dir, basename(socketPath)));
  } catch {
    return;
  }
  if (!socket.isSocket()) refuse('it is not a socket');
  if (socket.uid !== 0 && socket.uid !== st.uid) refuse(`the socket belongs to uid ${String(socket.uid)}, not root or the owner of its directory (uid ${String(st.uid)})`);
}

/**
 * A capture hook's side of the socket: hands one change to the local agent and waits for its
 * answer, which comes only after the change is committed to the agent's queue.
 */
export async function sendCapture(socketPath: string, request: CaptureRequest, timeoutMs = 30_000): Promise<CaptureAnswer> {
  const header = JSON.stringify({ v: 1, account: request.account, ...(request.source ? { source: request.source } : {}), ...(request.changedAt ? { changedAt: request.changedAt } : {}), length: request.secret.length });
  checkCaptureSocket(socketPath);
  return new Promise<CaptureAnswer>((resolve, reject) => {
    const socket = createConnection(socketPath);
    const timer = setTimeout(() => socket.destroy(new TransientError(`the agent did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    let answer = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => {
      socket.write(`${header}\n`);
      request.secret.useSync((clear) => {
        // write() may keep the buffer until it is flushed: hand it a copy, wiped once written.
        const copy = clearBuffer(clear.length);
        clear.copy(copy);
        socket.write(copy, () => copy.fill(0));
      });
    });
    socket.on('data', (text: string) => {
      answer += text;
      const newline = answer.indexOf('\n');
      if (newline === -1) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(captureAnswerSchema.parse(JSON.parse(answer.slice(0, newline))));
      } catch {
        reject(new TransientError('the agent answered something that is not a capture answer'));
      }
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no agent is listening on ${socketPath}` : e.code === 'EACCES' ? `permission denied on ${socketPath}: run the hook as the agent's user` : e.message;
      reject(e instanceof TransientError ? e : new TransientError(why, { cause: e }));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!answer.includes('\n')) reject(new TransientError('the agent closed the connection without an answer'));
    });
  });
}
