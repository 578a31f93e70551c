import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rawCapture } from '../support/capture-socket.ts';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sendCapture } from '../../src/agent/capture/client.ts';
import { Secret } from '../../src/core/secret.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import { scanProcessMemory } from '../support/memory-scan.ts';

/*
 * The proof that no clear copy of a password stays in the memory of the agent or the server once it
 * has gone the whole way (issue 16, finding 8): both run as real processes, a marker password goes
 * through the capture socket (as the PAM module sends it) to the file target, and then every
 * writable mapping of both processes is read through /proc/PID/mem. A heap snapshot would not do:
 * it shows no Buffer's bytes, nor memory already freed and not yet reused.
 *
 * The path is the socket, not the HTTP hook: a JSON body is parsed into JavaScript strings, which
 * cannot be wiped (docs/security.md, "Memory and core dumps").
 */

/** A password no other bytes of the run contain: 24 printable ASCII characters from random bytes. */
function marker(): Buffer {
  return Buffer.from(`M${randomBytes(24).toString('base64url')}`.slice(0, 24), 'latin1');
}

describe('memory scan: no clear password left in the agent or the server', () => {
  let world: AgentWorld;
  before(async () => {
    world = await createAgentWorld({ accounts: 5 });
  });
  after(async () => {
    await world.close();
  });

  test('a marker password sent through the capture socket to the target is nowhere in either process, as UTF-8 or UTF-16LE', async () => {
    const server = await world.startServer();
    const agent = await world.startAgent();
    const socket = join(world.dir, 'agent-data', 'capture.sock');
    const delivered = marker();
    // Not UTF-8 (a Latin-1 "é"), as a PAM stack may hand it over: it travels as its bytes, and the
    // target, a hash over bytes, holds exactly those.
    const latin1 = Buffer.concat([Buffer.from('caf\xe9-', 'latin1'), marker().subarray(0, 19)]);
    // Behind a header the agent refuses, in the same write: the chunk that carried it is wiped too.
    const refused = marker();

    const one = Secret.fromBytes(delivered);
    const two = Secret.fromBytes(latin1);
    try {
      const a = await sendCapture(socket, { account: 'u001', secret: one });
      assert.ok(a.ok && a.status === 'queued', JSON.stringify(a));
      const b = await sendCapture(socket, { account: 'u003', secret: two });
      assert.ok(b.ok && b.status === 'queued', JSON.stringify(b));
    } finally {
      one.dispose();
      two.dispose();
    }
    const header = Buffer.from(`${JSON.stringify({ v: 1, account: 'u002', length: refused.length, unknown: true })}\n`);
    const answer = JSON.parse((await rawCapture(socket, [Buffer.concat([header, refused])], 1))[0] ?? '{}') as { ok: boolean; error?: string; status?: string };
    assert.deepEqual([answer.ok, answer.error], [false, 'malformed']);

    const holds = async (login: string, password: Buffer): Promise<boolean> => {
      const hash = await world.targetHash(login);
      return hash !== '' && verifySecret(hash, Secret.fromBytes(password));
    };
    await eventually(async () => (await holds('u001', delivered)) && (await holds('u003', latin1)), 60_000, 'the target to hold both passwords');
    // The server has finished the job (the outcome is recorded after the connector returns) and
    // both processes are idle: give them a moment.
    await new Promise((r) => setTimeout(r, 1500));

    const needles: Record<string, Buffer> = {};
    for (const [name, bytes] of [['delivered', delivered], ['latin1', latin1], ['refused', refused]] as const) {
      needles[`${name} (bytes)`] = bytes;
      needles[`${name} (UTF-16LE)`] = Buffer.from(bytes.toString('latin1'), 'utf16le');
    }
    // A control: the scan does see what these processes hold (the world's directory, in both).
    const control = Buffer.from(world.dir, 'utf8');
    for (const [name, p] of [['agent', agent], ['server', server]] as const) {
      const pid = p.child.pid;
      assert.ok(pid !== undefined && p.child.exitCode === null, `${name} is running`);
      const { hits, bytes } = await scanProcessMemory(pid, { ...needles, control });
      assert.ok(bytes > 16 * 1024 * 1024, `${name}: only ${bytes} bytes were read`);
      assert.ok(hits.some((h) => h.needle === 'control'), `${name}: the scan does not see the process's own data`);
      const found = hits.filter((h) => h.needle !== 'control');
      assert.deepEqual(found, [], `${name} (pid ${pid}) still holds a password in the clear`);
    }
  });
});
