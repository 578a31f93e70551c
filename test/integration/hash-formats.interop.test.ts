/*
 * Every hash format against an independent implementation on this machine, in both directions
 * where the tool can verify: OpenSSL, libxcrypt (mkpasswd, python3's crypt, slapd's {CRYPT}),
 * apr-util (htpasswd), the argon2 reference CLI, python3's hashlib, and OpenLDAP itself — slappasswd
 * to make hashes, a private slapd on a Unix socket in a temporary directory to verify pwsync's by
 * binding. Passwords reach the tools on stdin, never in argv. A missing tool fails the test with
 * the Debian package to install; nothing is skipped.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret } from '../../src/core/secret.ts';
import { type HashFormat, hashSecret, hashSpecSchema, verifySecret } from '../../src/crypto/hash/index.ts';

const PASSWORDS = ['Pässwörd-密码-🔑', 'correct horse battery staple', `q'"$\\\`!*?;|&<>`];
const WRONG = 'Pässwörd-密码-🔐';
const CHEAP = { memoryKiB: 64, timeCost: 1, bcryptCost: 4, scryptLogN: 4, pbkdf2Iterations: 1000, cryptRounds: 1000 };

/** The Debian package that ships each command. */
const PACKAGES: Readonly<Record<string, string>> = {
  openssl: 'openssl', mkpasswd: 'whois', htpasswd: 'apache2-utils', argon2: 'argon2', python3: 'python3',
  slappasswd: 'slapd', slapadd: 'slapd', slapd: 'slapd', ldapwhoami: 'ldap-utils',
};

/** The Debian package that ships each slapd module: pw-pbkdf2 is in slapd-contrib, not slapd. */
const MODULE_PACKAGES = { 'pw-sha2': 'slapd', argon2: 'slapd', 'pw-pbkdf2': 'slapd-contrib' } as const;

function command(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* not in this directory */ }
  }
  assert.fail(`${name} not found: install the Debian package ${PACKAGES[name] ?? '?'} (apt-get install ${PACKAGES[name] ?? '?'})`);
}

function slapdModule(name: keyof typeof MODULE_PACKAGES): string {
  const pkg = MODULE_PACKAGES[name];
  assert.ok(existsSync(`/usr/lib/ldap/${name}.so`), `slapd module ${name} not found: install the Debian package ${pkg} (apt-get install ${pkg})`);
  return name;
}

interface Ran { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/**
 * Runs a tool with `input` on its stdin. Tools that read the password from a file get
 * `/dev/stdin`, which cannot be opened on the socket Node gives a child as stdin (ENXIO): for
 * them `cat` relays stdin into a real pipe, so the password still never touches argv or disk.
 */
function run(name: string, args: readonly string[], input: string): Promise<Ran> {
  const viaPipe = args.includes('/dev/stdin');
  return new Promise((resolve, reject) => {
    const [file, argv] = viaPipe ? ['/bin/sh', ['-c', 'cat | "$@"', 'sh', command(name), ...args]] : [command(name), args];
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
}

/** Runs a tool that must succeed and returns its last output line. */
async function output(name: string, args: readonly string[], input: string): Promise<string> {
  const ran = await run(name, args, input);
  assert.equal(ran.code, 0, `${name} failed: ${ran.stderr}`);
  return ran.stdout.trim().split('\n').at(-1) ?? '';
}

async function ours(format: HashFormat, password: string, extra: Record<string, number> = {}): Promise<string> {
  using secret = Secret.fromString(password);
  return await hashSecret(hashSpecSchema.parse({ format, ...CHEAP, ...extra }), secret);
}

async function verifies(encoded: string, password: string): Promise<boolean> {
  using secret = Secret.fromString(password);
  return await verifySecret(encoded, secret);
}

/** Theirs → ours: the right password verifies, a wrong one does not. */
async function assertOursVerify(encoded: string, password: string): Promise<void> {
  assert.equal(await verifies(encoded, password), true, `pwsync rejects ${encoded}`);
  assert.equal(await verifies(encoded, WRONG), false, `pwsync accepts a wrong password for ${encoded}`);
}

/** An independent reading of each encoding, on python3's hashlib and crypt (libxcrypt). */
const PYTHON = String.raw`
import base64, hashlib, hmac, json, os, sys, warnings
warnings.simplefilter('ignore')
req = json.load(sys.stdin)
pw, fmt = base64.b64decode(req['password']), req['format']
def dec(s): s = s.replace('.', '+'); return base64.b64decode(s + '=' * (-len(s) % 4), validate=True)
def ab64(b): return base64.b64encode(b).decode().rstrip('=').replace('+', '.')
def b64s(b): return base64.b64encode(b).decode().rstrip('=')
def derive(fmt, salt, cost, n):
    if fmt == 'scrypt': return hashlib.scrypt(pw, salt=salt, n=2 ** cost[0], r=cost[1], p=cost[2], dklen=n, maxmem=2 ** 26)
    if fmt in ('{SSHA}', '{SSHA512}'): return (hashlib.sha1 if fmt == '{SSHA}' else hashlib.sha512)(pw + salt).digest()
    return hashlib.pbkdf2_hmac('sha256' if fmt == 'pbkdf2-sha256' else 'sha512', pw, salt, cost)
def verify(enc):
    if fmt == 'crypt':
        import crypt
        return crypt.crypt(pw.decode(), enc) == enc
    if fmt == 'scrypt':
        _, _, params, salt, dk = enc.split('$')
        cost = [int(kv.split('=')[1]) for kv in params.split(',')]
    elif fmt.startswith('pbkdf2-'):
        _, _, cost, salt, dk = enc.split('$')
    elif fmt == '{PBKDF2-SHA512}':
        cost, salt, dk = enc[len(fmt):].split('$')
    else:
        n = 20 if fmt == '{SSHA}' else 64
        raw = base64.b64decode(enc[len(fmt):], validate=True)
        return hmac.compare_digest(derive(fmt, raw[n:], None, n), raw[:n])
    want = dec(dk)
    return hmac.compare_digest(derive(fmt, dec(salt), cost if fmt == 'scrypt' else int(cost), len(want)), want)
def make():
    salt = os.urandom(16)
    if fmt == 'scrypt': return '$scrypt$ln=5,r=8,p=1$%s$%s' % (b64s(salt), b64s(derive(fmt, salt, [5, 8, 1], 32)))
    if fmt in ('{SSHA}', '{SSHA512}'): return fmt + base64.b64encode(derive(fmt, salt, None, 0) + salt).decode()
    body = '1500$%s$%s' % (ab64(salt), ab64(derive(fmt, salt, 1500, 0)))
    return fmt + body if fmt.startswith('{') else '$%s$%s' % (fmt, body)
print(json.dumps(verify(req['encoded']) if req['mode'] == 'verify' else make()))
`;

async function python(mode: 'verify' | 'make', format: string, password: string, encoded = ''): Promise<unknown> {
  const input = JSON.stringify({ mode, format, encoded, password: Buffer.from(password).toString('base64') });
  return JSON.parse(await output('python3', ['-c', PYTHON], input)) as unknown;
}

void describe('sha512-crypt and {CRYPT}', () => {
  void test('openssl passwd -6 and mkpasswd (libxcrypt) hashes verify with pwsync', async () => {
    for (const password of PASSWORDS) {
      await assertOursVerify(await output('openssl', ['passwd', '-6', '-stdin', '-salt', 'saltsaltsaltsalt'], `${password}\n`), password);
      await assertOursVerify(await output('openssl', ['passwd', '-6', '-stdin', '-salt', 'rounds=2000$short'], `${password}\n`), password);
      await assertOursVerify(await output('mkpasswd', ['-m', 'sha-512', '-R', '3000', '--stdin'], `${password}\n`), password);
    }
  });

  void test('pwsync hashes are exactly what openssl and libxcrypt compute for their salt and rounds', async () => {
    for (const password of PASSWORDS) {
      for (const encoded of [await ours('sha512-crypt', password), await ours('sha512-crypt', password, { cryptRounds: 5000 })]) {
        const setting = encoded.slice('$6$'.length, encoded.lastIndexOf('$'));
        assert.equal(await output('openssl', ['passwd', '-6', '-stdin', '-salt', setting], `${password}\n`), encoded);
        assert.equal(await python('verify', 'crypt', password, encoded), true, encoded);
        assert.equal(await python('verify', 'crypt', WRONG, encoded), false, encoded);
      }
    }
  });

  void test('{CRYPT} from slappasswd verifies with pwsync; pwsync {CRYPT} holds an openssl-equal $6$', async () => {
    for (const password of PASSWORDS) {
      for (const format of ['$6$%.16s', '$6$rounds=2000$%.16s']) {
        await assertOursVerify(await output('slappasswd', ['-c', format, '-T', '/dev/stdin'], password), password);
      }
      const inner = (await ours('{CRYPT}', password)).slice('{CRYPT}'.length);
      const setting = inner.slice('$6$'.length, inner.lastIndexOf('$'));
      assert.equal(await output('openssl', ['passwd', '-6', '-stdin', '-salt', setting], `${password}\n`), inner);
    }
  });
});

void describe('bcrypt', () => {
  void test('htpasswd -B ($2y$) and mkpasswd ($2b$) hashes verify with pwsync', async () => {
    for (const password of PASSWORDS) {
      const line = await output('htpasswd', ['-nBi', '-C', '4', 'user'], password);
      await assertOursVerify(line.slice('user:'.length), password);
      await assertOursVerify(await output('mkpasswd', ['-m', 'bcrypt', '-R', '4', '--stdin'], `${password}\n`), password);
    }
  });

  void test('pwsync bcrypt hashes verify with htpasswd -v (apr-util) and libxcrypt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pwsync-bcrypt-'));
    try {
      for (const password of PASSWORDS) {
        const encoded = await ours('bcrypt', password);
        await writeFile(join(dir, 'htpasswd'), `user:${encoded}\n`, { mode: 0o600 });
        assert.equal((await run('htpasswd', ['-v', '-i', join(dir, 'htpasswd'), 'user'], password)).code, 0, encoded);
        assert.equal((await run('htpasswd', ['-v', '-i', join(dir, 'htpasswd'), 'user'], WRONG)).code, 3, encoded);
        assert.equal(await python('verify', 'crypt', password, encoded), true, encoded);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

void test('argon2id from the argon2 reference CLI verifies with pwsync (pwsync → libargon2: see slapd below)', async () => {
  for (const password of PASSWORDS) {
    for (const cost of [['-t', '1', '-m', '6', '-p', '1'], ['-t', '2', '-m', '8', '-p', '2']]) {
      await assertOursVerify(await output('argon2', ['pwsync-interop-salt', '-id', ...cost, '-e'], password), password);
    }
  }
});

for (const format of ['scrypt', 'pbkdf2-sha256', 'pbkdf2-sha512', '{PBKDF2-SHA512}', '{SSHA}', '{SSHA512}'] as const) {
  void test(`${format}: python3 hashlib verifies pwsync hashes, and pwsync verifies python3's`, async () => {
    for (const password of PASSWORDS) {
      const encoded = await ours(format, password);
      assert.equal(await python('verify', format, password, encoded), true, encoded);
      assert.equal(await python('verify', format, WRONG, encoded), false, encoded);
      const theirs = await python('make', format, password);
      assert.equal(typeof theirs, 'string');
      await assertOursVerify(theirs as string, password);
    }
  });
}

const SLAPPASSWD: readonly [string, () => string[]][] = [
  ['{SSHA}', () => ['-h', '{SSHA}']],
  ['{SSHA512}', () => ['-o', `module-load=${slapdModule('pw-sha2')}`, '-h', '{SSHA512}']],
  ['{PBKDF2-SHA512}', () => ['-o', `module-load=${slapdModule('pw-pbkdf2')}`, '-h', '{PBKDF2-SHA512}']],
  ['{ARGON2}', () => ['-o', `module-load=${slapdModule('argon2')}`, '-h', '{ARGON2}']],
];

for (const [scheme, args] of SLAPPASSWD) {
  void test(`${scheme} from slappasswd verifies with pwsync`, async () => {
    for (const password of PASSWORDS) {
      await assertOursVerify(await output('slappasswd', [...args(), '-T', '/dev/stdin'], password), password);
    }
  });
}

void describe('a private slapd verifies pwsync hashes by bind', () => {
  const users: { dn: string; password: string; encoded: string }[] = [];
  let dir = '';
  let url = '';
  let slapd: ChildProcess | undefined;

  before(async () => {
    const modules = [slapdModule('pw-sha2'), slapdModule('argon2'), slapdModule('pw-pbkdf2')];
    dir = await mkdtemp(join(tmpdir(), 'pwsync-slapd-'));
    url = `ldapi://${encodeURIComponent(join(dir, 'ldapi'))}`;
    const formats: HashFormat[] = ['{SSHA}', '{SSHA512}', '{CRYPT}', '{ARGON2}', '{PBKDF2-SHA512}'];
    const add = (password: string, encoded: string) => users.push({ dn: `cn=u${users.length},dc=pwsync,dc=test`, password, encoded });
    for (const password of PASSWORDS) {
      for (const format of formats) add(password, await ours(format, password));
      // A bare argon2id PHC string, checked by OpenLDAP's module on libargon2.
      add(password, `{ARGON2}${await ours('argon2id', password)}`);
      add(password, await ours('{CRYPT}', password, { cryptRounds: 5000 }));
    }
    const conf = [
      'include /etc/ldap/schema/core.schema', 'modulepath /usr/lib/ldap', 'moduleload back_mdb',
      ...modules.map((m) => `moduleload ${m}`), `pidfile ${join(dir, 'slapd.pid')}`,
      'database mdb', 'suffix "dc=pwsync,dc=test"', `directory ${dir}`, 'maxsize 10485760',
    ];
    const ldif = ['dn: dc=pwsync,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: pwsync\ndc: pwsync\n'];
    users.forEach((u, i) => ldif.push(`dn: ${u.dn}\nobjectClass: person\ncn: u${i}\nsn: u${i}\nuserPassword: ${u.encoded}\n`));
    await writeFile(join(dir, 'slapd.conf'), conf.join('\n') + '\n');
    await writeFile(join(dir, 'data.ldif'), ldif.join('\n'));
    await output('slapadd', ['-f', join(dir, 'slapd.conf'), '-l', join(dir, 'data.ldif')], '');
    // -d keeps slapd in the foreground as our child, so `after` can stop exactly this process.
    slapd = spawn(command('slapd'), ['-d', '0', '-f', join(dir, 'slapd.conf'), '-h', url], { stdio: 'ignore' });
    for (let i = 0; i < 100 && slapd.exitCode === null; i++) {
      if ((await run('ldapwhoami', ['-x', '-H', url], '')).code === 0) return;
      await sleep(100);
    }
    assert.fail('the private slapd did not start');
  });

  after(async () => {
    if (slapd?.exitCode === null) {
      const exited = new Promise((resolve) => slapd?.once('exit', resolve));
      slapd.kill('SIGTERM');
      const patience = new AbortController();
      const deadline = sleep(5000, undefined, { signal: patience.signal }).then(() => slapd?.kill('SIGKILL'), () => undefined);
      await Promise.race([exited, deadline]);
      patience.abort();
    }
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  void test('every pwsync LDAP scheme binds with the right password and not with a wrong one', async () => {
    assert.ok(users.length > 0);
    for (const user of users) {
      const bind = (password: string) => run('ldapwhoami', ['-x', '-H', url, '-D', user.dn, '-y', '/dev/stdin'], password);
      assert.equal((await bind(user.password)).code, 0, `slapd refuses ${user.encoded}`);
      assert.equal((await bind(WRONG)).code, 49, `slapd accepts a wrong password for ${user.encoded}`);
    }
  });
});
