/*
 * A plaintext LDAP proxy of our own, for tests of a directory that answers for every account but
 * one: it forwards each client's LDAP messages to a real server (the private slapd), except search
 * requests that contain a chosen byte string (an account name), which it answers itself with
 * `busy` (51) on the same connection. The connection stays up: the client sees an LDAP answer,
 * exactly as from a real server that is briefly overloaded for that one query.
 *
 * Plaintext only (the client must not use StartTLS): the proxy reads the messages to choose.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface LdapProxy {
  /** `ldap://127.0.0.1:PORT`. */
  readonly url: string;
  /** Client connections accepted so far. */
  readonly connections: number;
  /** Search requests answered `busy` so far. */
  readonly refused: number;
  /** Search requests containing these bytes are answered `busy`; none when undefined. */
  poison: Buffer | undefined;
  close(): Promise<void>;
}

const SEARCH_REQUEST = 0x63;
const SEARCH_RESULT_DONE = 0x65;
const BUSY = 51;

/** The length of a BER element at `at` (tag, length octets and content), or undefined when `buf` does not hold it all yet. */
function elementLength(buf: Buffer, at: number): number | undefined {
  if (buf.length < at + 2) return undefined;
  const first = buf[at + 1] ?? 0;
  let header = 2;
  let length = first;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 4) throw new Error(`unsupported BER length form 0x${first.toString(16)}`);
    if (buf.length < at + 2 + octets) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (buf[at + 2 + i] ?? 0);
    header += octets;
  }
  return buf.length < at + header + length ? undefined : header + length;
}

function berLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const element = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), berLength(content.length), content]);

/** SearchResultDone with `code` for the message whose id element (tag, length, value) is `id`. */
function searchDone(id: Buffer, code: number, diagnostic: string): Buffer {
  const done = element(SEARCH_RESULT_DONE, Buffer.concat([element(0x0a, Buffer.from([code])), element(0x04, Buffer.alloc(0)), element(0x04, Buffer.from(diagnostic))]));
  return element(0x30, Buffer.concat([id, done]));
}

export async function startLdapProxy(upstreamUrl: string): Promise<LdapProxy> {
  const upstream = new URL(upstreamUrl);
  const sockets = new Set<Socket>();
  const state = { connections: 0, refused: 0, poison: undefined as Buffer | undefined };
  const server: Server = createServer((client) => {
    state.connections++;
    const server = createConnection(Number(upstream.port), upstream.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        server.destroy();
      });
    }
    server.on('data', (chunk: Buffer) => client.write(chunk));
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const length = elementLength(pending, 0);
        if (length === undefined) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        // LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp CHOICE {…}, … }
        const headerLength = length - contentLength(message);
        const idLength = elementLength(message, headerLength) ?? 0;
        const id = message.subarray(headerLength, headerLength + idLength);
        const op = message[headerLength + idLength];
        if (op === SEARCH_REQUEST && state.poison !== undefined && message.includes(state.poison)) {
          state.refused++;
          client.write(searchDone(id, BUSY, 'test proxy: busy for this account'));
          continue;
        }
        server.write(message);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `ldap://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    get refused() {
      return state.refused;
    },
    get poison() {
      return state.poison;
    },
    set poison(bytes: Buffer | undefined) {
      state.poison = bytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The content length of a complete BER element at the start of `buf`. */
function contentLength(buf: Buffer): number {
  const first = buf[1] ?? 0;
  if (!(first & 0x80)) return first;
  let length = 0;
  for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (buf[2 + i] ?? 0);
  return length;
}
