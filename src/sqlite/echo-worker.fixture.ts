// A thread for thread.test.ts only: answers with what it is sent, refuses on request, or fails to
// open with the error a newer schema gives.
import { workerData } from 'node:worker_threads';
import { InvalidInputError } from '../core/errors.ts';
import { StoreSchemaTooNewError } from './errors.ts';
import { serveThread } from './thread-worker.ts';

export type EchoCall =
  | { readonly kind: 'echo'; readonly bytes: Buffer }
  /** Answers every byte of the memory the bytes arrived in, not only the view's. */
  | { readonly kind: 'backing'; readonly bytes: Buffer }
  | { readonly kind: 'refuse' };

const { failOpen } = workerData as { readonly failOpen: boolean };

await serveThread<EchoCall>('the echo thread', () => {
  if (failOpen) throw new StoreSchemaTooNewError(9, 2);
  return {
    answer: (call) => {
      if (call.kind === 'refuse') throw new InvalidInputError('refused on request');
      if (call.kind === 'backing') return new Uint8Array(call.bytes.buffer);
      return call.bytes;
    },
    close: () => undefined,
  };
});
