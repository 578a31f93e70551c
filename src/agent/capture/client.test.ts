/*
 * `pwsync capture`'s client gives a password only to a socket that root or the agent's user can
 * have put there: an impostor listening in a directory others can write, or a socket another user
 * made, receives nothing. The listeners are our own small servers (the agent's side is tested in
 * capture.test.ts). Runs as root (it makes files of other users).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { sendCapture } from './client.ts';

const NOBODY = 65534;

/** A listener that answers like the agent and keeps every byte it is sent. */
async function listener(path: string): Promise<{ server: Server; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = createServer((socket) => {
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      if (Buffer.concat(chunks).includes(0x0a)) socket.end('{"ok":true,"status":"queued","id":"x"}\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, received: () => Buffer.concat(chunks) };
}

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

void describe('the capture client: only the agent is given a password', () => {
  assert.equal(process.getuid?.(), 0, 'makes files of another user: run as root');
  const root = mkdtempSync(join(tmpdir(), 'pwsync-capture-client-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const send = (socket: string) => sendCapture(socket, { account: 'jdoe', secret: Secret.fromString('Impostor-Bait-1') }, 2000);

  void test('an impostor in a directory others can write receives nothing', async () => {
    const open = mkdtempSync(join(root, 'open-'));
    chmodSync(open, 0o1777);
    const impostor = await listener(join(open, 'capture.sock'));
    try {
      await assert.rejects(send(join(open, 'capture.sock')), { code: 'ERR_CAPTURE_SOCKET_UNTRUSTED' });
      assert.equal(impostor.received().length, 0);
    } finally {
      await close(impostor.server);
    }
  });

  void test("a socket another user made, in the agent's directory, receives nothing", async () => {
    const dir = mkdtempSync(join(root, 'agent-'));
    const path = join(dir, 'capture.sock');
    const impostor = await listener(path);
    chownSync(path, NOBODY, NOBODY);
    try {
      await assert.rejects(send(path), { code: 'ERR_CAPTURE_SOCKET_UNTRUSTED' });
      assert.equal(impostor.received().length, 0);
    } finally {
      await close(impostor.server);
    }
  });

  void test("the agent's own socket, in its own directory, is given the change", async () => {
    const dir = mkdtempSync(join(root, 'agent-'));
    const agent = await listener(join(dir, 'capture.sock'));
    try {
      const answer = await send(join(dir, 'capture.sock'));
      assert.equal(answer.ok, true);
      assert.ok(agent.received().includes(Buffer.from('Impostor-Bait-1')));
    } finally {
      await close(agent.server);
    }
  });
});
