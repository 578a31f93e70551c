import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, loadCa } from './ca.ts';
import { certificateInfo, daysLeft } from './info.ts';
import { issueAgentCertificate, issueServerCertificate } from './issue.ts';
import { defaultServerHosts } from './hosts.ts';
import { addAgent, initPki, inventory } from './setup.ts';
import { openssl, tempDir } from './test-support.ts';
import { x509 } from './x509.ts';
import { pathExists } from '../util/files.ts';

const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

test('the CA, server and agent certificates verify with openssl and carry the right extensions', async () => {
  const t = await tempDir();
  try {
    const ca = await createCa(t.dir, { commonName: 'Test CA, Ltd.' });
    const server = await issueServerCertificate(ca, t.dir, { hosts: ['pwsync.corp.test', '127.0.0.1', '::1', '[fe80::1]', '::ffff:10.0.0.1', 'Upper.Example.'] });
    const agent = await issueAgentCertificate(ca, join(t.dir, 'out'), 'dc1.corp');

    const verified = await openssl('verify', '-CAfile', join(t.dir, 'ca.crt'), server.certFile, agent.certFile);
    assert.match(verified, /server\.crt: OK/);
    assert.match(verified, /dc1\.corp\.crt: OK/);
    // The purpose checks openssl applies in TLS: the server certificate serves, the agent's is a client.
    await openssl('verify', '-purpose', 'sslserver', '-CAfile', join(t.dir, 'ca.crt'), server.certFile);
    await openssl('verify', '-purpose', 'sslclient', '-CAfile', join(t.dir, 'ca.crt'), agent.certFile);
    await assert.rejects(openssl('verify', '-purpose', 'sslclient', '-CAfile', join(t.dir, 'ca.crt'), server.certFile));
    await assert.rejects(openssl('verify', '-purpose', 'sslserver', '-CAfile', join(t.dir, 'ca.crt'), agent.certFile));

    const caText = await openssl('x509', '-noout', '-text', '-in', join(t.dir, 'ca.crt'));
    assert.match(caText, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(caText, /Subject Key Identifier/);
    assert.match(caText, /ecdsa-with-SHA256/);
    assert.match(caText, /NIST CURVE: P-256/);
    assert.match(caText, /Subject: CN ?= ?"?Test CA\\?, Ltd\./);

    const serverText = await openssl('x509', '-noout', '-text', '-in', server.certFile);
    assert.match(serverText, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(serverText, /Extended Key Usage:\s*\n\s+TLS Web Server Authentication\n/);
    assert.match(serverText, /Authority Key Identifier/);
    assert.match(serverText, /CA:FALSE/);
    const san = /Subject Alternative Name:\s*\n\s+(.*)\n/.exec(serverText)?.[1];
    assert.equal(san, 'DNS:pwsync.corp.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1, DNS:upper.example');
    assert.deepEqual(server.hosts, ['pwsync.corp.test', '127.0.0.1', '::1', 'fe80::1', '::ffff:a00:1', 'upper.example']);

    const agentText = await openssl('x509', '-noout', '-text', '-in', agent.certFile);
    assert.match(agentText, /Subject: CN ?= ?dc1\.corp\n/);
    assert.match(agentText, /Extended Key Usage:\s*\n\s+TLS Web Client Authentication\n/);
    assert.doesNotMatch(agentText, /Subject Alternative Name/);

    // Serials: 16 bytes, positive, different every time.
    const serials = [server.certFile, agent.certFile].map((f) => /Serial Number:\s*\n\s+([0-9a-f:]+)/.exec(f === server.certFile ? serverText : agentText)?.[1]);
    for (const s of serials) assert.match(s ?? '', /^[4-7][0-9a-f](:[0-9a-f]{2}){15}$/);
    assert.notEqual(serials[0], serials[1]);

    for (const key of [join(t.dir, 'ca.key'), server.keyFile, agent.keyFile]) {
      assert.match(await openssl('ec', '-check', '-noout', '-in', key), /EC Key valid/);
      assert.match(await readFile(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
      assert.equal(await mode(key), 0o600, key);
    }
    assert.equal(await readFile(agent.caFile, 'utf8'), await readFile(join(t.dir, 'ca.crt'), 'utf8'));
    assert.equal(await mode(join(t.dir, 'out')), 0o700);
  } finally {
    await t.cleanup();
  }
});

test('lifetimes: ten years for the CA, 825 days for leaves, never beyond the CA', async () => {
  const t = await tempDir();
  try {
    const ca = await createCa(t.dir);
    const server = await issueServerCertificate(ca, t.dir, { hosts: ['localhost'] });
    const caInfo = certificateInfo(await readFile(join(t.dir, 'ca.crt'), 'utf8'));
    const serverInfo = certificateInfo(await readFile(server.certFile, 'utf8'));
    assert.equal(daysLeft(caInfo), 3651);
    assert.equal(daysLeft(serverInfo), 824);
    // Valid a little before now, for peers whose clocks lag.
    assert.ok(serverInfo.notBefore.getTime() < Date.now() - 60_000);
    await assert.rejects(issueAgentCertificate(ca, join(t.dir, 'a'), 'long', { validDays: 4000 }), { code: 'ERR_INVALID_INPUT' });
    await assert.rejects(issueAgentCertificate(ca, join(t.dir, 'a'), 'zero', { validDays: 0 }), { code: 'ERR_INVALID_INPUT' });
    await assert.rejects(createCa(join(t.dir, 'ca2'), { validDays: 1.5 }), { code: 'ERR_INVALID_INPUT' });
  } finally {
    await t.cleanup();
  }
});

test('certificateInfo: CN, colon-free lower-case SHA-256, expiry, CA flag', async () => {
  const t = await tempDir();
  try {
    const ca = await createCa(t.dir, { commonName: 'info CA' });
    const agent = await issueAgentCertificate(ca, t.dir, 'agent-7');
    const pem = await readFile(agent.certFile, 'utf8');
    const info = certificateInfo(pem);
    assert.equal(info.commonName, 'agent-7');
    assert.equal(info.issuerCommonName, 'info CA');
    assert.equal(info.isCa, false);
    assert.equal(certificateInfo(ca.certPem).isCa, true);
    const expected = (await openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', agent.certFile)).replace(/^.*=/, '').trim().replaceAll(':', '').toLowerCase();
    assert.equal(info.fingerprint, expected);
    assert.equal(info.notAfter.getTime(), new x509.X509Certificate(pem).notAfter.getTime());
    assert.equal(info.notBefore.getTime(), new x509.X509Certificate(pem).notBefore.getTime());
    assert.throws(() => certificateInfo('not a certificate'), { code: 'ERR_INVALID_INPUT' });
  } finally {
    await t.cleanup();
  }
});

test('existing material is never overwritten, and a refused init writes nothing', async () => {
  const t = await tempDir();
  try {
    const ca = await createCa(t.dir);
    const before = await readFile(join(t.dir, 'ca.key'), 'utf8');
    await assert.rejects(createCa(t.dir), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_INVALID_INPUT');
      assert.ok(e.message.includes(join(t.dir, 'ca.crt')));
      return true;
    });
    assert.equal(await readFile(join(t.dir, 'ca.key'), 'utf8'), before);

    await issueServerCertificate(ca, t.dir, { hosts: ['localhost'] });
    await assert.rejects(issueServerCertificate(ca, t.dir, { hosts: ['localhost'] }), { code: 'ERR_INVALID_INPUT' });
    await issueAgentCertificate(ca, join(t.dir, 'a'), 'dc1');
    await assert.rejects(issueAgentCertificate(ca, join(t.dir, 'a'), 'dc1'), { code: 'ERR_INVALID_INPUT' });
    // Another agent in the same folder shares this CA's ca.crt; another CA's ca.crt is refused.
    await issueAgentCertificate(ca, join(t.dir, 'a'), 'dc2');
    const other = await createCa(join(t.dir, 'other'));
    await assert.rejects(issueAgentCertificate(other, join(t.dir, 'a'), 'dc3'), { code: 'ERR_INVALID_INPUT' });
    assert.deepEqual((await readdir(join(t.dir, 'a'))).sort(), ['ca.crt', 'dc1.crt', 'dc1.key', 'dc2.crt', 'dc2.key']);

    // init in a directory where only the server key exists: refused before the CA is made.
    const partial = join(t.dir, 'partial');
    await mkdir(partial);
    await writeFile(join(partial, 'server.key'), 'x', { mode: 0o600 });
    await assert.rejects(initPki(partial), { code: 'ERR_INVALID_INPUT' });
    assert.deepEqual(await readdir(partial), ['server.key']);
    // Bad input is refused before the CA is made, so the corrected command can simply be run again.
    const fresh = join(t.dir, 'fresh');
    await assert.rejects(initPki(fresh, { hosts: ['bad host'] }), { code: 'ERR_INVALID_INPUT' });
    await assert.rejects(initPki(fresh, { validDays: 400, caDays: 300 }), { code: 'ERR_INVALID_INPUT' });
    await assert.rejects(initPki(fresh, { caDays: 0 }), { code: 'ERR_INVALID_INPUT' });
    assert.equal(await pathExists(fresh), false);
    await initPki(fresh, { hosts: ['localhost'] });
    // No temporary files are left behind anywhere.
    for (const dir of [t.dir, join(t.dir, 'a'), partial]) assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    await t.cleanup();
  }
});

test('loadCa refuses a CA key readable by group or others, naming the file and the fix', async () => {
  const t = await tempDir();
  try {
    await createCa(t.dir);
    const key = join(t.dir, 'ca.key');
    for (const m of [0o644, 0o640, 0o604]) {
      await chmod(key, m);
      await assert.rejects(loadCa(t.dir), (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_KEY');
        assert.ok(e.message.includes(key));
        assert.match(e.message, /chmod 600/);
        return true;
      });
    }
    await chmod(key, 0o400);
    await loadCa(t.dir);
  } finally {
    await t.cleanup();
  }
});

test('loadCa refuses a missing key, a key of another CA and a certificate that is not a CA', async () => {
  const t = await tempDir();
  try {
    await assert.rejects(loadCa(t.dir), { code: 'ERR_KEY' });
    const a = join(t.dir, 'a');
    const b = join(t.dir, 'b');
    const caA = await createCa(a);
    await createCa(b);
    await writeFile(join(a, 'ca.key'), await readFile(join(b, 'ca.key')), { mode: 0o600 });
    await assert.rejects(loadCa(a), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_KEY' && /does not belong/.test(e.message));
    // An agent certificate and its key put in place of the CA's.
    const agent = await issueAgentCertificate(caA, join(t.dir, 'agent'), 'dc1');
    const fake = join(t.dir, 'fake');
    await mkdir(fake);
    await copyFile(agent.certFile, join(fake, 'ca.crt'));
    await copyFile(agent.keyFile, join(fake, 'ca.key'));
    await assert.rejects(loadCa(fake), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_KEY' && /not a CA/.test(e.message));
    await writeFile(join(fake, 'ca.key'), 'garbage', { mode: 0o600 });
    await writeFile(join(fake, 'ca.crt'), await readFile(join(b, 'ca.crt')));
    await assert.rejects(loadCa(fake), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_KEY' && /not a PEM private key/.test(e.message));
  } finally {
    await t.cleanup();
  }
});

test('agent names and server hosts are checked', async () => {
  const t = await tempDir();
  try {
    const ca = await createCa(t.dir);
    for (const bad of ['', 'DC1', '-dc1', '.', '..', '../x', 'a/b', 'dc_1', 'ca', 'a'.repeat(64)]) {
      await assert.rejects(issueAgentCertificate(ca, join(t.dir, 'x'), bad), { code: 'ERR_INVALID_INPUT' }, bad);
    }
    await issueAgentCertificate(ca, join(t.dir, 'x'), 'a'.repeat(63));
    for (const bad of [[], ['bad host'], ['fe80::1%eth0'], ['-x.test'], ['a..b'], ['localhost', 'x_y.test']]) {
      await assert.rejects(issueServerCertificate(ca, join(t.dir, 'server'), { hosts: bad }), { code: 'ERR_INVALID_INPUT' }, bad.join());
    }
    assert.deepEqual((await readdir(t.dir)).sort(), ['ca.crt', 'ca.key', 'x']);
    const hosts = defaultServerHosts();
    assert.deepEqual(hosts.slice(0, 3), ['localhost', '127.0.0.1', '::1']);
  } finally {
    await t.cleanup();
  }
});

test('initPki, addAgent and inventory: what the pki commands do', async () => {
  const t = await tempDir();
  try {
    const pki = join(t.dir, 'pki');
    const result = await initPki(pki, { hosts: ['sync.corp.test', '127.0.0.1'], validDays: 90 });
    assert.equal(await mode(pki), 0o700);
    assert.deepEqual((await readdir(pki)).sort(), ['ca.crt', 'ca.key', 'server-jwe.key', 'server-jwe.pub.json', 'server.crt', 'server.key']);
    for (const f of ['ca.key', 'server.key', 'server-jwe.key']) assert.equal(await mode(join(pki, f)), 0o600, f);
    const agent = await addAgent(pki, 'dc1');
    assert.equal(agent.outDir, join(pki, 'agents', 'dc1'));
    assert.deepEqual((await readdir(agent.outDir)).sort(), ['ca.crt', 'dc1.crt', 'dc1.key', 'server-jwe.pub.json']);
    assert.equal(await readFile(agent.serverKeyFile, 'utf8'), await readFile(result.jwe.publicFile, 'utf8'));
    await assert.rejects(addAgent(pki, 'dc1'), { code: 'ERR_INVALID_INPUT' });

    const inv = await inventory(pki);
    assert.equal(inv.ca?.info.isCa, true);
    assert.equal(inv.server?.info.commonName, 'sync.corp.test');
    assert.equal(daysLeft(inv.server.info), 89);
    assert.equal(inv.jweKid, result.jwe.kid);
    assert.deepEqual(inv.agents.map((a) => a.info.commonName), ['dc1']);
    const empty = await inventory(join(t.dir, 'none'));
    assert.deepEqual([empty.ca, empty.server, empty.jweKid, empty.agents], [null, null, null, []]);
  } finally {
    await t.cleanup();
  }
});
