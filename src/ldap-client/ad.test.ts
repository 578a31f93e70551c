import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { guidFromString, guidToString } from './ad.ts';

/*
 * objectGUID: 16 bytes in the GUID structure's layout (MS-DTYP 2.3.4.2): Data1 (32 bits), Data2 and
 * Data3 (16 bits each) little-endian, Data4 (8 bytes) as stored. The string form prints Data1,
 * Data2, Data3 as numbers, then Data4 as two groups of bytes (2.3.4.3).
 */

const BYTES = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const TEXT = '33221100-5544-7766-8899-aabbccddeeff';

/** The string form computed from the structure's fields, independently of the code under test. */
function fromFields(guid: Buffer): string {
  const data1 = guid.readUInt32LE(0).toString(16).padStart(8, '0');
  const data2 = guid.readUInt16LE(4).toString(16).padStart(4, '0');
  const data3 = guid.readUInt16LE(6).toString(16).padStart(4, '0');
  const data4 = guid.subarray(8).toString('hex');
  return `${data1}-${data2}-${data3}-${data4.slice(0, 4)}-${data4.slice(4)}`;
}

void describe('objectGUID', () => {
  void test('the well-known example: first three fields little-endian, the rest as stored', () => {
    assert.equal(guidToString(BYTES), TEXT);
    assert.deepEqual(guidFromString(TEXT), BYTES);
    assert.equal(fromFields(BYTES), TEXT);
  });

  void test('a plain Uint8Array works as a Buffer does, and is not modified', () => {
    const bytes = Uint8Array.from(BYTES);
    assert.equal(guidToString(bytes), TEXT);
    assert.deepEqual(bytes, Uint8Array.from(BYTES));
  });

  void test('round trip of random GUIDs, both ways, agreeing with the field layout', () => {
    for (let i = 0; i < 500; i++) {
      const bytes = randomBytes(16);
      const text = guidToString(bytes);
      assert.ok(text !== undefined);
      assert.equal(text, fromFields(bytes));
      assert.deepEqual(guidFromString(text), bytes);
      const uuid = randomUUID();
      assert.equal(guidToString(guidFromString(uuid)), uuid);
    }
  });

  void test('edge values: all zero, all ones', () => {
    assert.equal(guidToString(Buffer.alloc(16)), '00000000-0000-0000-0000-000000000000');
    assert.equal(guidToString(Buffer.alloc(16, 0xff)), 'ffffffff-ffff-ffff-ffff-ffffffffffff');
    assert.deepEqual(guidFromString('00000000-0000-0000-0000-000000000000'), Buffer.alloc(16));
  });

  void test('a value that is not 16 bytes has no string form', () => {
    for (const length of [0, 1, 15, 17, 32]) assert.equal(guidToString(Buffer.alloc(length)), undefined, `${length} bytes`);
  });

  void test('upper and mixed case are accepted; the string form is lower case', () => {
    assert.deepEqual(guidFromString(TEXT.toUpperCase()), BYTES);
    assert.deepEqual(guidFromString('33221100-5544-7766-8899-AABBccddEEFF'), BYTES);
    const text = guidToString(guidFromString(TEXT.toUpperCase()));
    assert.equal(text, TEXT);
  });

  void test('malformed strings are refused with a RangeError', () => {
    const bad = [
      '',
      '33221100554477668899aabbccddeeff',
      '{33221100-5544-7766-8899-aabbccddeeff}',
      '33221100-5544-7766-8899-aabbccddeef',
      '33221100-5544-7766-8899-aabbccddeeff0',
      '33221100-5544-7766-8899aabb-ccddeeff',
      '3322110-05544-7766-8899-aabbccddeeff',
      '33221100-5544-7766-8899-aabbccddeefg',
      ' 33221100-5544-7766-8899-aabbccddeeff',
      '33221100-5544-7766-8899-aabbccddeeff\n',
      '33221100_5544_7766_8899_aabbccddeeff',
      'urn:uuid:33221100-5544-7766-8899-aabbccddeeff',
      '\\00\\11\\22\\33\\44\\55\\66\\77\\88\\99\\aa\\bb\\cc\\dd\\ee\\ff',
    ];
    for (const text of bad) assert.throws(() => guidFromString(text), RangeError, JSON.stringify(text));
  });
});
