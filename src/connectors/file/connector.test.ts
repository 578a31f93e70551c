import assert from 'node:assert/strict';
import { appendFile, chmod, chown, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { isPwsyncError, type PwsyncError } from '../../core/errors.ts';
import { Secret } from '../../core/secret.ts';
import { replaceFileAtomically } from './atomic.ts';
import { CsvScanner, fieldSpan, fieldValue, type CsvDialect, type RawRecord } from './csv.ts';
import { createFileConnector, type FileConnector } from './index.ts';
import { bigCsv, csvConnector, fileSystem, setTo, strays, tempDir, verifies, type CsvSystemOptions, type TempDir } from '../../../test/support/connectors/file.ts';
import { EVENT } from '../../core/events.ts';

let tmp: TempDir;
before(async () => (tmp = await tempDir()));
after(async () => tmp.remove());

let seq = 0;
async function make(content: string | Buffer, options: CsvSystemOptions = {}): Promise<{ connector: FileConnector; path: string; name: string }> {
  const name = `t${++seq}.csv`;
  return { ...(await csvConnector(tmp.dir, name, content, options)), name };
}

function dialectOf(options: CsvSystemOptions): CsvDialect {
  const enc = options.encoding ?? 'utf8';
  return { delimiter: Buffer.from(options.delimiter ?? ',', enc)[0] ?? 0, quote: Buffer.from(options.quote ?? '"', enc)[0] ?? 0, encoding: enc };
}

/** The byte span and value of `column` in the row whose first field is `anchor`. */
function locate(data: Buffer, d: CsvDialect, anchor: string, column: string): { span: readonly [number, number]; value: string } {
  const start = data.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? 3 : 0;
  const s = new CsvScanner(d, 'f', start);
  let header: string[] | undefined;
  let found: { span: readonly [number, number]; value: string } | undefined;
  const emit = (r: RawRecord): void => {
    const vals = Array.from({ length: r.fields.length / 2 }, (_, i) => fieldValue(r, i, d));
    if (header === undefined) header = vals;
    else if (vals[0] === anchor) {
      const i = header.indexOf(column);
      found = { span: fieldSpan(r, i), value: vals[i] ?? '' };
    }
  };
  s.push(data.subarray(start), emit);
  s.finish(emit);
  assert.ok(found, `row ${anchor}`);
  return found;
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<PwsyncError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return isPwsyncError(err) && err.code === code;
  });
  assert.ok(isPwsyncError(caught));
  return caught;
}

void describe('importAccounts', () => {
  void test('yields every column, the anchor too, but never the password, decoded', async () => {
    const { connector } = await make('\ufeffid,login,password,note\r\nu1,alice,$2b$x,"a, ""b"""\r\nu2,bob,,\r\n');
    const got = [];
    for await (const a of connector.importAccounts()) got.push(a);
    assert.deepEqual(got, [
      { anchor: 'u1', attributes: { id: 'u1', login: 'alice', note: 'a, "b"' } },
      { anchor: 'u2', attributes: { id: 'u2', login: 'bob', note: '' } },
    ]);
  });

  void test('stopping early closes the file', async () => {
    const { connector } = await make('id,login,password\nu1,a,\nu2,b,\n');
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const before = await fds();
    for await (const a of connector.importAccounts()) if (a.anchor === 'u1') break;
    assert.equal(await fds(), before);
  });

  void test('a column named __proto__ stays a column', async () => {
    const { connector } = await make('id,__proto__,password\nu1,x,\n');
    for await (const a of connector.importAccounts()) assert.equal(Object.getOwnPropertyDescriptor(a.attributes, '__proto__')?.value, 'x');
  });
});

void describe('setPassword leaves every other byte as it was', () => {
  const variants: [string, string | Buffer, CsvSystemOptions][] = [
    ['LF', 'id,login,password\nu1,alice,\nu2,bob,old\nu3,carol,\n', {}],
    ['CRLF', 'id,login,password\r\nu1,alice,\r\nu2,bob,old\r\nu3,carol,\r\n', {}],
    ['BOM and CRLF, no final line ending', '\ufeffid,login,password\r\nu1,alice,\r\nu2,bob,"old"\r\nu3,carol,', {}],
    ['password column in the middle, quoted neighbours', 'id,password,note\nu1,,"x, ""y"""\nu2,"$q,uoted",\n"u3","","multi\nline"\n', {}],
    ['tab-delimited', 'id\tlogin\tpassword\nu1\talice\t\nu2\tbob\t\nu3\tcarol\t\n', { delimiter: '\t' }],
    ['latin1 with ; and quote \'', Buffer.from("id;name;password\nu1;Müller;\nu2;'Ærø; Øst';x\nu3;Å;\n", 'latin1'), { delimiter: ';', quote: "'", encoding: 'latin1' }],
    ['last field of the file', 'id,login,password\nu1,alice,\nu2,bob,old', {}],
  ];
  for (const [name, content, options] of variants) {
    void test(name, async () => {
      const { connector, path } = await make(content, options);
      const d = dialectOf(options);
      for (const anchor of ['u2', 'u1']) {
        const original = await readFile(path);
        const { span } = locate(original, d, anchor, 'password');
        await setTo(connector, anchor, `pw-${anchor}-ü`);
        const written = await readFile(path);
        const { value: hash } = locate(written, d, anchor, 'password');
        assert.match(hash, /^\$argon2id\$/);
        const quoted = hash.includes(String.fromCharCode(d.delimiter));
        const field = Buffer.from(quoted ? `${String.fromCharCode(d.quote)}${hash}${String.fromCharCode(d.quote)}` : hash, d.encoding);
        const expected = Buffer.concat([original.subarray(0, span[0]), field, original.subarray(span[1])]);
        assert.ok(written.equals(expected), 'only the password field changed');
      }
      assert.equal(await verifies(connector, 'u1', 'pw-u1-ü'), true);
      assert.equal(await verifies(connector, 'u2', 'pw-u2-ü'), true);
      assert.equal(await verifies(connector, 'u2', 'pw-u1-ü'), false);
    });
  }
});

void describe('corrupt files', () => {
  const cases: [string, string, number, CsvSystemOptions][] = [
    ['unterminated quote', 'id,login,password\nu1,alice,\nu2,"bob,\nu3,carol,\n', 3, {}],
    ['a row with too few fields', 'id,login,password\nu1,alice,\nu2,bob\n', 3, {}],
    ['a row with too many fields', 'id,login,password\nu1,alice,,x\nu2,bob,\n', 2, {}],
    ['duplicate anchor', 'id,login,password\nu1,alice,\nu2,bob,\nu1,again,\n', 4, {}],
    ['empty anchor', 'id,login,password\nu1,alice,\n,bob,\n', 3, {}],
    ['missing anchor column', 'key,login,password\nu1,alice,\n', 1, {}],
    ['missing password column', 'id,login,pw\nu1,alice,\n', 1, {}],
    ['duplicate column name', 'id,login,login,password\nu1,a,b,\n', 1, {}],
    ['a UTF-8 byte order mark in a file configured as latin1', '\ufeffid,login,password\nu1,alice,\n', 1, { encoding: 'latin1' }],
  ];
  for (const [name, content, line, options] of cases) {
    void test(`${name}: a TargetDataError with the line; the file untouched`, async () => {
      const { connector, path, name: file } = await make(content, options);
      const original = await readFile(path);
      const err = await rejectsCode(setTo(connector, 'u1', 'pw'), 'ERR_TARGET_DATA');
      assert.equal(err.retryable, false);
      assert.ok(err.message.startsWith(`${path}, line ${line}: `), err.message);
      await rejectsCode((async () => {
        for await (const a of connector.importAccounts()) assert.ok(a.anchor);
      })(), 'ERR_TARGET_DATA');
      assert.ok((await readFile(path)).equals(original));
      assert.deepEqual(await strays(tmp.dir, []).then((all) => all.filter((n) => n.includes(file) && n !== file)), []);
      const report = await connector.testConnection();
      assert.equal(report.ok, false);
      assert.match(report.detail, new RegExp(`line ${line}`));
    });
  }

  // Issue 17: a large export whose end is broken (a record cut short, an unterminated quote)
  // must not be imported in part: the import of that file yields nothing, and says where.
  for (const [name, tail] of [
    ['a record with too few fields at the end', 'u-last,cut-short\n'],
    ['an unterminated quoted field at the end', 'u-last,"open,x@example.test,d,\n'],
  ] as const) {
    void test(`${name} of a file larger than one read: the import yields no account and names the line`, async () => {
      const rows = 20_000;
      const { connector, path } = await make(bigCsv(rows) + tail);
      let yielded = 0;
      const err = await rejectsCode((async () => {
        for await (const a of connector.importAccounts()) yielded += a.anchor === '' ? 0 : 1;
      })(), 'ERR_TARGET_DATA');
      assert.equal(yielded, 0, 'nothing of the file was yielded');
      assert.ok(err.message.startsWith(`${path}, line ${rows + 2}: `), err.message);
    });
  }

  void test('a missing final line ending is not an error', async () => {
    const { connector } = await make('id,login,password\nu1,alice,\nu2,bob,');
    const anchors: string[] = [];
    for await (const a of connector.importAccounts()) anchors.push(a.anchor);
    assert.deepEqual(anchors, ['u1', 'u2']);
  });

  void test('an empty file has no header', async () => {
    const { connector } = await make('');
    await rejectsCode(setTo(connector, 'u1', 'pw'), 'ERR_TARGET_DATA');
  });
});

void describe('configuration and outcomes', () => {
  void test('no password column or no hash format → NotConfiguredError (6922)', async () => {
    for (const options of [{ passwordColumn: null }, { hash: null }] as const) {
      const { connector } = await make('id,login,password\nu1,alice,\n', options);
      const err = await rejectsCode(setTo(connector, 'u1', 'pw'), 'ERR_NOT_CONFIGURED');
      assert.equal(err.event, EVENT.SYNC_NOT_CONFIGURED);
      const report = await connector.testConnection();
      assert.equal(report.ok, true);
    }
    const { connector } = await make('id,login,password\nu1,alice,\n', { passwordColumn: null });
    await rejectsCode(verifies(connector, 'u1', 'pw'), 'ERR_NOT_CONFIGURED');
  });

  void test('the password column cannot be the anchor column', () => {
    assert.throws(() => createFileConnector(fileSystem('x.csv', { passwordColumn: 'id' }), { system: 'csv', baseDir: tmp.dir }), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_CONFIG');
  });

  void test('verifyPassword: empty hash → false; a value in no known format → TargetDataError', async () => {
    const { connector } = await make('id,password\nu1,\nu2,plaintext\n');
    assert.equal(await verifies(connector, 'u1', ''), false);
    assert.equal(await verifies(connector, 'u1', 'x'), false);
    const err = await rejectsCode(verifies(connector, 'u2', 'plaintext'), 'ERR_TARGET_DATA');
    assert.doesNotMatch(err.message, /plaintext/);
  });

  void test('a missing file is transient; testConnection says not ok', async () => {
    const { connector, path } = await make('id,password\nu1,\n');
    await rm(path);
    const err = await rejectsCode(setTo(connector, 'u1', 'pw'), 'ERR_TRANSIENT');
    assert.equal(err.retryable, true);
    await rejectsCode(verifies(connector, 'u1', 'pw'), 'ERR_TRANSIENT');
    const report = await connector.testConnection();
    assert.deepEqual({ ok: report.ok, secure: report.secure, identity: report.identity }, { ok: false, secure: true, identity: path });
  });

  void test('a relative path resolves against the base directory; identity is the absolute path', async () => {
    const { connector, path } = await make('id,password\nu1,\n');
    const report = await connector.testConnection();
    assert.equal(report.ok, true, report.detail);
    assert.equal(report.identity, path);
    assert.equal(connector.isSecure(), true);
  });

  void test('the file mode is kept, and the owner when running as root', async () => {
    const { connector, path } = await make('id,password\nu1,\nu2,\n');
    await chmod(path, 0o640);
    const root = process.getuid?.() === 0;
    if (root) await chown(path, 4321, 4322);
    await setTo(connector, 'u1', 'pw1');
    const st = await stat(path);
    assert.equal(st.mode & 0o7777, 0o640);
    if (root) assert.deepEqual([st.uid, st.gid], [4321, 4322]);
  });

  void test('no temp file or lock is left behind, on success or failure', async () => {
    const { connector, path, name } = await make('id,password\nu1,\n');
    await setTo(connector, 'u1', 'pw1');
    await rejectsCode(setTo(connector, 'nobody', 'pw'), 'ERR_ACCOUNT_NOT_FOUND');
    const mine = (await strays(tmp.dir, [])).filter((n) => n.includes(name));
    assert.deepEqual(mine, [name]);
    // A failure after the temp file is written: it is removed and the original is untouched.
    const original = await readFile(path);
    await assert.rejects(
      replaceFileAtomically(path, Buffer.from('new'), await stat(path, { bigint: true }), () => {
        throw new Error('lock lost');
      }),
      /lock lost/,
    );
    assert.ok((await readFile(path)).equals(original));
    assert.deepEqual((await strays(tmp.dir, [])).filter((n) => n.includes(name)), [name]);
  });

  void test('a file rewritten by someone else between our writes is re-scanned, not patched at old offsets', async () => {
    const { connector, path } = await make('id,password\nu1,\nu2,\nu3,\n');
    await setTo(connector, 'u2', 'first');
    // Someone inserts a row in front and changes a field's length, keeping our hash of u2.
    const now = (await readFile(path, 'utf8')).replace('u1,', 'u0,x\nu1,longer-value-here');
    await writeFile(`${path}.other`, now);
    await rename(`${path}.other`, path);
    await setTo(connector, 'u3', 'third');
    const text = await readFile(path, 'utf8');
    assert.ok(text.startsWith('id,password\nu0,x\nu1,longer-value-here\nu2,"$argon2id$'), text);
    assert.equal(await verifies(connector, 'u2', 'first'), true);
    assert.equal(await verifies(connector, 'u3', 'third'), true);
    // And an edit in place (same inode) of another row's length.
    await writeFile(path, (await readFile(path, 'utf8')).replace('u0,x', 'u0,xyz'));
    await setTo(connector, 'u1', 'one');
    assert.equal(await verifies(connector, 'u1', 'one'), true);
    assert.equal(await verifies(connector, 'u3', 'third'), true);
    assert.match(await readFile(path, 'utf8'), /^id,password\nu0,xyz\nu1,"\$argon2id/);
  });

  void test('the secret is only borrowed', async () => {
    const { connector } = await make('id,password\nu1,\n');
    const secret = Secret.fromString('pw');
    await connector.setPassword('u1', secret, { forceChangeAtNextLogon: true });
    assert.equal(secret.disposed, false);
    assert.equal(await connector.verifyPassword('u1', secret), true);
    secret.dispose();
  });
});

void describe('a hundred thousand rows', () => {
  void test('import streams them in well under two seconds; sets and verifies stay fast', async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const rows = 100_000;
    const { connector, path } = await make(bigCsv(rows));
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let n = 0;
    let peak = 0;
    let sawAppended = false;
    for await (const a of connector.importAccounts()) {
      // Streaming, not loading: a row appended after the first one was yielded is still read.
      if (n === 0) await appendFile(path, 'late,late,late@example.test,x,\n');
      if (a.anchor === 'late') sawAppended = true;
      if (++n % 20_000 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - heapBefore);
      }
    }
    assert.equal(n, rows + 1);
    assert.ok(sawAppended, 'the import read the file as it went');
    let t0 = performance.now();
    n = 0;
    for await (const a of connector.importAccounts()) n += a.anchor === '' ? 0 : 1;
    const importMs = performance.now() - t0;
    assert.equal(n, rows + 1);
    assert.ok(importMs < 2000, `import took ${importMs.toFixed(0)} ms`);
    t0 = performance.now();
    const sets = 20;
    for (let i = 0; i < sets; i++) await setTo(connector, `u${i * 4999}`, `pw${i}`);
    const setMs = (performance.now() - t0) / sets;
    t0 = performance.now();
    for (let i = 0; i < sets; i++) assert.equal(await verifies(connector, `u${i * 4999}`, `pw${i}`), true);
    const verifyMs = (performance.now() - t0) / sets;
    t.diagnostic(
      `import ${rows} rows: ${importMs.toFixed(0)} ms; live heap growth during import ≤ ${(peak / 1e6).toFixed(1)} MB (the anchor index); ` +
        `setPassword ${setMs.toFixed(1)} ms each; verifyPassword ${verifyMs.toFixed(1)} ms each`,
    );
  });
});
