import { createConnection } from 'node:net';
import { TransientError } from '../../core/errors.ts';
import { clearBuffer, type Secret } from '../../core/secret.ts';
import { captureAnswerSchema, type CaptureAnswer } from './protocol.ts';

export interface CaptureRequest {
  readonly account: string;
  readonly source?: string;
  readonly changedAt?: number;
  readonly secret: Secret;
}

/**
 * A capture hook's side of the socket: hands one change to the local agent and waits for its
 * answer, which comes only after the change is committed to the agent's queue.
 */
export async function sendCapture(socketPath: string, request: CaptureRequest, timeoutMs = 30_000): Promise<CaptureAnswer> {
  const header = JSON.stringify({ v: 1, account: request.account, ...(request.source ? { source: request.source } : {}), ...(request.changedAt ? { changedAt: request.changedAt } : {}), length: request.secret.length });
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
