import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { addAgent, initPki } from './setup.ts';
import { tempDir } from './test-support.ts';

/**
 * Real TLS handshakes between node:https servers and clients with the material `pki init` and
 * `pki agent` write: the server demands a client certificate from its CA, the client pins that CA.
 */

interface Pki {
  dir: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  agent: { cert: Buffer; key: Buffer; ca: Buffer };
}

let cleanup: () => Promise<void> = () => Promise.resolve();
let main: Pki;
let other: Pki;

async function makePki(dir: string, agentName: string): Promise<Pki> {
  await initPki(dir, { hosts: ['localhost', '127.0.0.1'] });
  const agent = await addAgent(dir, agentName);
  return {
    dir,
    ca: await readFile(join(dir, 'ca.crt')),
    cert: await readFile(join(dir, 'server.crt')),
    key: await readFile(join(dir, 'server.key')),
    agent: { cert: await readFile(agent.certFile), key: await readFile(agent.keyFile), ca: await readFile(agent.caFile) },
  };
}

before(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  main = await makePki(join(t.dir, 'main'), 'dc1');
  other = await makePki(join(t.dir, 'other'), 'intruder');
});

after(async () => {
  await cleanup();
});

interface Seen {
  /** The client certificate's CN of every request the handler saw. */
  peers: string[];
}

/**
 * An HTTPS server on 127.0.0.1, port 0, that requires a client certificate from `clientCa`.
 * `insecureDiagnose` lets unverified clients in only to answer why they would have been refused.
 */
async function startServer(pki: Pki, clientCa: Buffer, insecureDiagnose = false): Promise<{ server: Server; port: number; seen: Seen }> {
  const seen: Seen = { peers: [] };
  const server = createServer({ cert: pki.cert, key: pki.key, ca: clientCa, requestCert: true, rejectUnauthorized: !insecureDiagnose }, (req, res) => {
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) throw new Error('not a TLS socket');
    if (!socket.authorized) {
      res.end(`refused: ${String(socket.authorizationError)}`);
      return;
    }
    const cn = String(socket.getPeerCertificate().subject.CN);
    seen.peers.push(cn);
    res.end(`hello ${cn}`);
  });
  // The server logs nothing; refused handshakes surface on the client.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port, seen };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

interface ClientOptions {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  host?: string;
}

/** One GET with a fresh connection (no agent pooling); resolves with the body. */
async function get(port: number, options: ClientOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        method: 'GET',
        agent: false,
        ca: options.ca,
        ...(options.cert !== undefined && { cert: options.cert }),
        ...(options.key !== undefined && { key: options.key }),
        ...(options.host !== undefined && { servername: options.host, headers: { host: options.host } }),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('an agent with its certificate gets through, and the server sees its name', async () => {
  const { server, port, seen } = await startServer(main, main.ca);
  try {
    assert.equal(await get(port, { ca: main.agent.ca, cert: main.agent.cert, key: main.agent.key }), 'hello dc1');
    // The server certificate also names localhost, the name agents on the same host use.
    assert.equal(await get(port, { ca: main.agent.ca, cert: main.agent.cert, key: main.agent.key, host: 'localhost' }), 'hello dc1');
    assert.deepEqual(seen.peers, ['dc1', 'dc1']);
  } finally {
    await stop(server);
  }
});

test('a client without a certificate is refused', async () => {
  const { server, port, seen } = await startServer(main, main.ca);
  try {
    await assert.rejects(get(port, { ca: main.agent.ca }), { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    assert.deepEqual(seen.peers, []);
  } finally {
    await stop(server);
  }
});

/** Why a server that verifies client certificates against `main`'s CA refuses this client. */
async function refusalReason(client: ClientOptions): Promise<string> {
  const { server, port } = await startServer(main, main.ca, true);
  try {
    return await get(port, client);
  } finally {
    await stop(server);
  }
}

test('a client certificate from another CA is refused', async () => {
  const client = { ca: main.agent.ca, cert: other.agent.cert, key: other.agent.key };
  const { server, port, seen } = await startServer(main, main.ca);
  try {
    await assert.rejects(get(port, client));
    assert.deepEqual(seen.peers, []);
  } finally {
    await stop(server);
  }
  // Which of the two depends on whether the other CA's name happens to equal ours.
  assert.match(await refusalReason(client), /^refused: (UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
});

test('the server certificate cannot stand in for an agent certificate (clientAuth only)', async () => {
  const client = { ca: main.agent.ca, cert: main.cert, key: main.key };
  const { server, port, seen } = await startServer(main, main.ca);
  try {
    await assert.rejects(get(port, client));
    assert.deepEqual(seen.peers, []);
  } finally {
    await stop(server);
  }
  assert.equal(await refusalReason(client), 'refused: INVALID_PURPOSE');
});

test('an agent that pins its CA refuses a server whose certificate comes from another CA', async () => {
  // The impostor even accepts our agent's certificate: the agent must refuse it on its own.
  const { server, port, seen } = await startServer(other, main.ca);
  try {
    await assert.rejects(get(port, { ca: main.agent.ca, cert: main.agent.cert, key: main.agent.key }), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e);
      assert.match(String(e.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
      return true;
    });
    assert.deepEqual(seen.peers, []);
  } finally {
    await stop(server);
  }
});

test('an agent refuses a server certificate for another host name', async () => {
  const { server, port } = await startServer(main, main.ca);
  try {
    await assert.rejects(get(port, { ca: main.agent.ca, cert: main.agent.cert, key: main.agent.key, host: 'elsewhere.test' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  } finally {
    await stop(server);
  }
});
