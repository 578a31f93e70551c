import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TargetDataError } from '../../core/errors.ts';
import { CsvScanner, dialectByte, encodeField, fieldCount, fieldSpan, fieldValue, parseOneRecord, type CsvDialect, type RawRecord } from './csv.ts';

const CSV: CsvDialect = { delimiter: 0x2c, quote: 0x22, encoding: 'utf8' };

interface Row {
  line: number;
  start: number;
  end: number;
  values: string[];
  spans: (readonly [number, number])[];
}

function toRow(r: RawRecord, d: CsvDialect): Row {
  const values: string[] = [];
  const spans: (readonly [number, number])[] = [];
  for (let i = 0; i < fieldCount(r); i++) {
    values.push(fieldValue(r, i, d));
    spans.push(fieldSpan(r, i));
  }
  return { line: r.line, start: r.start, end: r.end, values, spans };
}

/** Scans `data` in chunks of `chunk` bytes (all at once by default). */
function scan(data: Buffer | string, d: CsvDialect = CSV, chunk = Infinity): Row[] {
  const bytes = typeof data === 'string' ? Buffer.from(data, d.encoding) : data;
  const rows: Row[] = [];
  const s = new CsvScanner(d, 'test.csv');
  const emit = (r: RawRecord): void => void rows.push(toRow(r, d));
  for (let i = 0; i < bytes.length; i += Math.min(chunk, bytes.length)) s.push(bytes.subarray(i, i + chunk), emit);
  s.finish(emit);
  return rows;
}

function values(data: Buffer | string, d: CsvDialect = CSV): string[][] {
  return scan(data, d).map((r) => r.values);
}

function scanError(data: string, d: CsvDialect = CSV): TargetDataError {
  try {
    scan(data, d);
  } catch (err) {
    assert.ok(err instanceof TargetDataError);
    return err;
  }
  assert.fail('expected a TargetDataError');
}

void describe('CsvScanner', () => {
  void test('plain rows, with and without a final line ending', () => {
    assert.deepEqual(values('a,b\n1,2\n'), [['a', 'b'], ['1', '2']]);
    assert.deepEqual(values('a,b\n1,2'), [['a', 'b'], ['1', '2']]);
  });

  void test('empty fields, trailing delimiter', () => {
    assert.deepEqual(values('a,b,c\n,,\n1,,\n'), [['a', 'b', 'c'], ['', '', ''], ['1', '', '']]);
    assert.deepEqual(values('a,b,c\n1,2,'), [['a', 'b', 'c'], ['1', '2', '']]);
  });

  void test('quoted fields: doubled quotes, embedded delimiters, LF and CRLF inside quotes', () => {
    const rows = scan('id,note\n1,"say ""hi"", ok"\n2,"two\nlines"\n3,"crlf\r\ninside"\n4,""\n');
    assert.deepEqual(rows.map((r) => r.values), [['id', 'note'], ['1', 'say "hi", ok'], ['2', 'two\nlines'], ['3', 'crlf\r\ninside'], ['4', '']]);
    // Line numbers count the line feeds inside quotes.
    assert.deepEqual(rows.map((r) => r.line), [1, 2, 3, 5, 7]);
  });

  void test('CRLF line endings: record ends exclude the CR', () => {
    const text = 'a,b\r\n1,2\r\n';
    const rows = scan(text);
    assert.deepEqual(rows.map((r) => r.values), [['a', 'b'], ['1', '2']]);
    assert.equal(rows[1]?.end, text.indexOf('\r\n', 4));
    assert.deepEqual(rows[1].spans, [[5, 6], [7, 8]]);
  });

  void test('byte spans include the quotes and are absolute', () => {
    const text = 'a,b\nx,"y,z"\n';
    const rows = scan(text);
    assert.deepEqual(rows[1]?.spans, [[4, 5], [6, 11]]);
    assert.equal(text.slice(6, 11), '"y,z"');
  });

  void test('physically empty lines are skipped; line numbers still count them', () => {
    const rows = scan('a,b\n\n1,2\r\n\r\n3,4\n\n');
    assert.deepEqual(rows.map((r) => r.values), [['a', 'b'], ['1', '2'], ['3', '4']]);
    assert.deepEqual(rows.map((r) => r.line), [1, 3, 5]);
  });

  void test('tab delimiter and another quote character', () => {
    const d: CsvDialect = { delimiter: 0x09, quote: 0x27, encoding: 'utf8' };
    assert.deepEqual(values("id\tname\n1\t'a\tb'\n2\t'it''s'\n", d), [['id', 'name'], ['1', 'a\tb'], ['2', "it's"]]);
    // A double quote is plain text under that dialect.
    assert.deepEqual(values('id\tname\n1\t5\'10"\n'.replace("'", ''), d), [['id', 'name'], ['1', '510"']]);
  });

  void test('latin1: bytes above 0x7f decode one to one', () => {
    const d: CsvDialect = { delimiter: 0x3b, quote: 0x22, encoding: 'latin1' };
    const data = Buffer.from('id;name\n1;Müller\n2;"Ærø; Øst"\n', 'latin1');
    assert.deepEqual(values(data, d), [['id', 'name'], ['1', 'Müller'], ['2', 'Ærø; Øst']]);
    assert.equal(data.indexOf(0xfc), 11);
  });

  void test('utf8: multi-byte characters; invalid UTF-8 is an error naming the line', () => {
    assert.deepEqual(values('id,name\n1,Zoë 日本\n'), [['id', 'name'], ['1', 'Zoë 日本']]);
    const bad = Buffer.concat([Buffer.from('id,name\n1,ok\n2,'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    assert.throws(() => scan(bad), (e: unknown) => e instanceof TargetDataError && /line 3/.test(e.message));
  });

  void test('any chunking gives the same records, spans and lines', () => {
    const text = 'id,note,pw\r\n1,"a ""q"", b\nc",x\r\n2,plain,"$a,b$"\n\n3,,\r\n4,"é日本",last';
    const whole = scan(text);
    for (const chunk of [1, 2, 3, 5, 7, 13]) assert.deepEqual(scan(text, CSV, chunk), whole, `chunk ${chunk}`);
    assert.equal(whole.length, 5);
  });

  void test('corrupt input is a TargetDataError naming the file and line', () => {
    const cases: [string, number][] = [
      ['a,b\n1,"open\n2,3\n', 2], // unterminated quote: reported where it opened
      ['a,b\n1,2\n3,x"y\n', 3], // quote inside an unquoted field
      ['a,b\n1,"x"y\n', 2], // text after a closing quote
      ['a,b\n1,2\r3,4\n', 2], // bare CR
      ['a,b\n1,2\r', 2], // CR at the end
    ];
    for (const [text, line] of cases) {
      const err = scanError(text);
      assert.equal(err.code, 'ERR_TARGET_DATA');
      assert.match(err.message, new RegExp(`^test\\.csv, line ${line}: `), text);
    }
  });
});

void describe('encodeField', () => {
  void test('quotes only when needed, doubling quotes', () => {
    assert.equal(encodeField('$2b$12$abc', CSV).toString(), '$2b$12$abc');
    assert.equal(encodeField('$argon2id$v=19$m=64,t=1,p=1$s$h', CSV).toString(), '"$argon2id$v=19$m=64,t=1,p=1$s$h"');
    assert.equal(encodeField('a"b', CSV).toString(), '"a""b"');
    assert.equal(encodeField('', CSV).length, 0);
    const tab: CsvDialect = { delimiter: 0x09, quote: 0x22, encoding: 'utf8' };
    assert.equal(encodeField('m=64,t=1', tab).toString(), 'm=64,t=1');
  });

  void test('a value the encoding cannot hold is refused', () => {
    assert.throws(() => encodeField('日本', { ...CSV, encoding: 'latin1' }), TypeError);
  });

  void test('round trip through the scanner', () => {
    for (const v of ['plain', 'a,b', 'q"q', 'line\nfeed', 'cr\r\nlf', '']) {
      const data = Buffer.concat([Buffer.from('x\n'), encodeField(v, CSV), Buffer.from('\n')]);
      assert.deepEqual(values(data), [['x'], ...(v === '' ? [] : [[v]])]);
    }
  });
  void test('"$" as the quote character: crypt-style hashes keep every "$" through write and read', () => {
    // A string replacement reads "$$" as one "$": the quotes were not doubled and rows broke.
    const dollar: CsvDialect = { delimiter: 0x2c, quote: 0x24, encoding: 'utf8' };
    const hashes = ['$6$rounds=5000$salt$abc.def/xyz', '$2b$12$R9h/cIPz0gi.URNNX3kh2O', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'a$$b', '$'];
    for (const hash of hashes) {
      const field = encodeField(hash, dollar);
      assert.equal(field.toString(), `$${hash.replaceAll('$', () => '$$')}$`);
      const data = Buffer.concat([Buffer.from('login,pw\nu1,'), field, Buffer.from(',x\n')]);
      assert.deepEqual(values(data, dollar), [['login', 'pw'], ['u1', hash, 'x']]);
    }
  });
});

void describe('parseOneRecord and dialectByte', () => {
  void test('one record or undefined', () => {
    assert.deepEqual(parseOneRecord(Buffer.from('1,"a,b"'), 10, 2, CSV, 'f')?.fields, [10, 11, 12, 17]);
    assert.equal(parseOneRecord(Buffer.from('1,2\n3,4'), 0, 1, CSV, 'f'), undefined);
    assert.equal(parseOneRecord(Buffer.from('1,"a'), 0, 1, CSV, 'f'), undefined);
  });

  void test('delimiters must be one byte in the encoding and not a line ending', () => {
    assert.equal(dialectByte('\t', 'utf8', 'delimiter'), 9);
    assert.equal(dialectByte('§', 'latin1', 'delimiter'), 0xa7);
    assert.throws(() => dialectByte('§', 'utf8', 'delimiter'), TypeError);
    assert.throws(() => dialectByte('€', 'latin1', 'delimiter'), TypeError);
    assert.throws(() => dialectByte('\n', 'utf8', 'delimiter'), TypeError);
  });
});
