import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { isPin, spkiPin, tlsOptions } from './tls.ts';

/*
 * Certificates made with openssl for these tests: a CA (EC P-256), a server certificate for
 * `localhost` issued by it (RSA), and an unrelated self-signed certificate (EC P-384). Expected pins
 * are computed by openssl's own pipeline, the one the configuration's documentation gives.
 */

interface Pki {
  readonly dir: string;
  readonly caPem: Buffer;
  readonly leafPem: Buffer;
  readonly leafKey: Buffer;
  readonly otherPem: Buffer;
  /** Pins computed by openssl. */
  readonly caPin: string;
  readonly leafPin: string;
  readonly otherPin: string;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64` */
function opensslPin(dir: string, certFile: string): string {
  const out = execFileSync('sh', ['-c', `openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`, 'sh', certFile], { cwd: dir });
  return `sha256/${out.toString('utf8').trim()}`;
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'pwsync-tls-test-'));
  openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  openssl(dir, 'req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=pwsync test CA', '-days', '2', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl(dir, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'leaf.key');
  openssl(dir, 'req', '-new', '-key', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr');
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(dir, 'x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem');
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-nodes', '-keyout', 'other.key', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-days', '2', '-out', 'other.pem');
  const read = (name: string): Buffer => readFileSync(join(dir, name));
  return {
    dir,
    caPem: read('ca.pem'),
    leafPem: read('leaf.pem'),
    leafKey: read('leaf.key'),
    otherPem: read('other.pem'),
    caPin: opensslPin(dir, 'ca.pem'),
    leafPin: opensslPin(dir, 'leaf.pem'),
    otherPin: opensslPin(dir, 'other.pem'),
  };
}

/** A PeerCertificate as `getPeerCertificate(true)` gives it, with `issuer` as its issuer (itself when undefined). */
function peer(pem: Buffer, issuer?: PeerCertificate): PeerCertificate {
  const cert = new X509Certificate(pem).toLegacyObject() as PeerCertificate & { issuerCertificate: PeerCertificate };
  cert.issuerCertificate = issuer ?? cert;
  return cert;
}

type Check = (name: string, cert: PeerCertificate) => Error | undefined;

function checkOf(url: string, pins: readonly string[]): Check {
  const options = tlsOptions(url, { rejectUnauthorized: true, pins });
  const check = options.checkServerIdentity;
  assert.ok(check !== undefined, 'pins install a checkServerIdentity');
  return check;
}

function codeOf(e: Error | undefined): unknown {
  return e === undefined ? undefined : (e as Error & { code?: unknown }).code;
}

let pki: Pki;

before(() => {
  pki = makePki();
});

after(() => {
  rmSync(pki.dir, { recursive: true, force: true });
});

void describe('isPin', () => {
  void test('accepts sha256/ and 43 base64 characters and one =', () => {
    assert.equal(isPin(`sha256/${'A'.repeat(43)}=`), true);
    assert.equal(isPin('sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='), true);
    assert.equal(isPin(pki.caPin), true);
    assert.equal(isPin(pki.leafPin), true);
  });

  void test('refuses other lengths, other algorithms, other alphabets and padding', () => {
    const bad = [
      '',
      'sha256/',
      `sha256/${'A'.repeat(44)}`,
      `sha256/${'A'.repeat(42)}=`,
      `sha256/${'A'.repeat(43)}`,
      `sha256/${'A'.repeat(42)}==`,
      `sha256/${'A'.repeat(43)}==`,
      `sha256/${'A'.repeat(44)}=`,
      `sha1/${'A'.repeat(43)}=`,
      `SHA256/${'A'.repeat(43)}=`,
      `sha384/${'A'.repeat(63)}=`,
      `sha256:${'A'.repeat(43)}=`,
      `sha256/${'-'.repeat(43)}=`,
      `sha256/${'_'.repeat(43)}=`,
      ` sha256/${'A'.repeat(43)}=`,
      `sha256/${'A'.repeat(43)}= `,
      `sha256/${'A'.repeat(43)}=\n`,
      `sha256/${'A'.repeat(21)} ${'A'.repeat(21)}=`,
      'a'.repeat(64),
    ];
    for (const pin of bad) assert.equal(isPin(pin), false, JSON.stringify(pin));
  });
});

void describe('spkiPin', () => {
  void test("equals openssl's pin for an EC and an RSA certificate, and for an EC P-384 one", () => {
    assert.equal(spkiPin({ raw: new X509Certificate(pki.caPem).raw }), pki.caPin);
    assert.equal(spkiPin({ raw: new X509Certificate(pki.leafPem).raw }), pki.leafPin);
    assert.equal(spkiPin({ raw: new X509Certificate(pki.otherPem).raw }), pki.otherPin);
    assert.equal(new Set([pki.caPin, pki.leafPin, pki.otherPin]).size, 3);
  });

  void test('works on the legacy PeerCertificate object, whose pubkey is not the SPKI for EC keys', () => {
    const legacy = peer(pki.caPem);
    assert.equal(spkiPin(legacy), pki.caPin);
  });

  void test('what is not a certificate has no pin', () => {
    assert.equal(spkiPin({ raw: Buffer.alloc(0) }), undefined);
    assert.equal(spkiPin({ raw: Buffer.from('not a certificate') }), undefined);
    assert.equal(spkiPin({ raw: new X509Certificate(pki.caPem).raw.subarray(0, 100) }), undefined);
  });
});

void describe('tlsOptions', () => {
  void test('servername (SNI) for a host name only, never for an address', () => {
    const named = tlsOptions('ldaps://dc1.example.org:636', { rejectUnauthorized: true });
    assert.equal(named.host, 'dc1.example.org');
    assert.equal(named.servername, 'dc1.example.org');

    // ldap: is not a special scheme to WHATWG URL, so the case is kept; names compare without case.
    const upper = tlsOptions('ldap://DC1.Example.ORG', { rejectUnauthorized: true });
    assert.equal(upper.servername?.toLowerCase(), 'dc1.example.org');

    for (const [url, host] of [
      ['ldaps://192.0.2.10:636', '192.0.2.10'],
      ['ldaps://127.0.0.1', '127.0.0.1'],
      ['ldaps://[::1]:636', '::1'],
      ['ldap://[::1]', '::1'],
      ['ldaps://[2001:db8::10]', '2001:db8::10'],
    ] as const) {
      const options = tlsOptions(url, { rejectUnauthorized: true });
      assert.equal(options.host, host, url);
      assert.equal('servername' in options, false, url);
    }
  });

  void test('ca only when given; rejectUnauthorized as given; no checkServerIdentity without pins', () => {
    const plain = tlsOptions('ldaps://dc1.example.org', { rejectUnauthorized: true });
    assert.equal('ca' in plain, false);
    assert.equal(plain.rejectUnauthorized, true);
    assert.equal(plain.checkServerIdentity, undefined);

    const withCa = tlsOptions('ldaps://dc1.example.org', { rejectUnauthorized: true, ca: pki.caPem });
    assert.deepEqual(withCa.ca, [pki.caPem]);

    const lax = tlsOptions('ldaps://dc1.example.org', { rejectUnauthorized: false, pins: [] });
    assert.equal(lax.rejectUnauthorized, false);
    assert.equal(lax.checkServerIdentity, undefined);
  });

  void test('pins: a chain holding a pinned key passes, whichever certificate holds it', () => {
    const ca = peer(pki.caPem);
    const leaf = peer(pki.leafPem, ca);
    assert.equal(checkOf('ldaps://localhost', [pki.caPin])('localhost', leaf), undefined);
    assert.equal(checkOf('ldaps://localhost', [pki.leafPin])('localhost', leaf), undefined);
    assert.equal(checkOf('ldaps://localhost', [pki.otherPin, pki.caPin])('localhost', leaf), undefined);
    // A self-signed certificate is its own issuer: its key is found, and the walk ends.
    assert.equal(checkOf('ldaps://localhost', [pki.otherPin])('localhost', peer(pki.otherPem)), undefined);
  });

  void test('pins: a chain holding none of the pinned keys is refused with ERR_TLS_PIN_MISMATCH', () => {
    const ca = peer(pki.caPem);
    const leaf = peer(pki.leafPem, ca);
    const refused = checkOf('ldaps://localhost', [pki.otherPin])('localhost', leaf);
    assert.ok(refused instanceof Error);
    assert.equal(codeOf(refused), 'ERR_TLS_PIN_MISMATCH');

    const selfSigned = checkOf('ldaps://localhost', [pki.caPin, pki.leafPin])('localhost', peer(pki.otherPem));
    assert.equal(codeOf(selfSigned), 'ERR_TLS_PIN_MISMATCH');

    // An issuer that is an empty object (what Node gives when it has none) ends the chain.
    const orphan = new X509Certificate(pki.leafPem).toLegacyObject() as PeerCertificate & { issuerCertificate: unknown };
    orphan.issuerCertificate = {};
    assert.equal(codeOf(checkOf('ldaps://localhost', [pki.caPin])('localhost', orphan)), 'ERR_TLS_PIN_MISMATCH');
    assert.equal(checkOf('ldaps://localhost', [pki.leafPin])('localhost', orphan), undefined);
  });

  void test('pins: the host name is still checked first', () => {
    const ca = peer(pki.caPem);
    const leaf = peer(pki.leafPem, ca);
    const wrongName = checkOf('ldaps://dc1.example.org', [pki.caPin])('dc1.example.org', leaf);
    assert.equal(codeOf(wrongName), 'ERR_TLS_CERT_ALTNAME_INVALID');
    const wrongBoth = checkOf('ldaps://dc1.example.org', [pki.otherPin])('dc1.example.org', leaf);
    assert.equal(codeOf(wrongBoth), 'ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

void describe('tlsOptions in a real handshake', () => {
  let server: Server;
  let port = 0;

  before(async () => {
    // The server sends its own certificate only; the client finds the CA in its trust store.
    server = createServer({ key: pki.leafKey, cert: pki.leafPem }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Connects with tlsOptions for `url` (pointed at the test server); resolves to the error code, or 'connected'. */
  function handshake(url: string, pins: readonly string[]): Promise<string> {
    const options = tlsOptions(url, { rejectUnauthorized: true, ca: pki.caPem, pins });
    return new Promise((resolve) => {
      const socket: TLSSocket = connect({ ...options, host: '127.0.0.1', port });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: Error & { code?: string }) => {
        socket.destroy();
        resolve(e.code ?? e.message);
      });
    });
  }

  void test("the CA's pin or the server's own pin connects", async () => {
    assert.equal(await handshake(`ldaps://localhost:${port}`, []), 'connected');
    assert.equal(await handshake(`ldaps://localhost:${port}`, [pki.caPin]), 'connected');
    assert.equal(await handshake(`ldaps://localhost:${port}`, [pki.leafPin]), 'connected');
  });

  void test('a pin of another key fails the handshake with ERR_TLS_PIN_MISMATCH', async () => {
    assert.equal(await handshake(`ldaps://localhost:${port}`, [pki.otherPin]), 'ERR_TLS_PIN_MISMATCH');
  });

  void test('a name the certificate does not hold fails before the pins are looked at', async () => {
    assert.equal(await handshake(`ldaps://127.0.0.1:${port}`, [pki.caPin]), 'ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
