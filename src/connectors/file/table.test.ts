import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fieldSpan, parseOneRecord, type CsvDialect } from './csv.ts';
import { indexBuffer, shiftRows, type TableIndex } from './table.ts';

const CSV: CsvDialect = { delimiter: 0x2c, quote: 0x22, encoding: 'utf8' };
const COLUMNS = { anchor: 'id', password: 'password' };

function index(data: Buffer): TableIndex {
  return indexBuffer(data, 'k', 'test.csv', CSV, COLUMNS);
}

function locations(i: TableIndex): Record<string, readonly [number, number]> {
  return Object.fromEntries([...i.rows].map(([anchor, loc]) => [anchor, [loc.start, loc.end] as const]));
}

void describe('shiftRows', () => {
  void test('after several edits of different lengths, every row is where a fresh scan finds it', () => {
    const data = Buffer.from('id,login,password\r\nu1,alice,old\r\nu2,bob,\r\nu3,carol,"q,uoted"\r\nu4,dave,x\r\nu5,eve,\r\nu6,frank,same', 'utf8');
    const cached = index(data);
    // Grow u2's field, shrink u3's, keep u4's length, grow the last row's (no line ending after it).
    const replacements = new Map([
      ['u2', '"$argon2id$v=19$m=64,t=1,p=1$abc"'],
      ['u3', 'z'],
      ['u4', 'y'],
      ['u6', 'longer-than-before'],
    ]);
    const edits = [...replacements].map(([anchor, field]) => {
      const loc = cached.rows.get(anchor);
      assert.ok(loc);
      const record = parseOneRecord(data.subarray(loc.start, loc.end), loc.start, loc.line, CSV, 'test.csv');
      assert.ok(record);
      const [start, end] = fieldSpan(record, 2);
      return { start, end, field: Buffer.from(field) };
    });
    const pieces: Buffer[] = [];
    let at = 0;
    for (const e of edits) {
      pieces.push(data.subarray(at, e.start), e.field);
      at = e.end;
    }
    pieces.push(data.subarray(at));
    const edited = Buffer.concat(pieces);

    shiftRows(cached, edits.map((e) => ({ offset: e.end, delta: e.field.length - (e.end - e.start) })));
    assert.deepEqual(locations(cached), locations(index(edited)));
  });

  void test('no edit, or edits that keep every length, move nothing', () => {
    const data = Buffer.from('id,password\nu1,a\nu2,b\n');
    const cached = index(data);
    const before = locations(cached);
    shiftRows(cached, []);
    shiftRows(cached, [{ offset: 16, delta: 0 }]);
    assert.deepEqual(locations(cached), before);
  });
});
