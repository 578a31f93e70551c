import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bind, compileNamed, StatementSyntaxError } from './named-params.ts';

describe('named parameters', () => {
  test('PostgreSQL: each name becomes $n, a name used twice keeps its number', () => {
    const s = compileNamed('UPDATE users SET hash = :hash, changed = now() WHERE id = :anchor OR login = :anchor', 'postgres');
    assert.equal(s.text, 'UPDATE users SET hash = $1, changed = now() WHERE id = $2 OR login = $2');
    assert.deepEqual(s.order, ['hash', 'anchor']);
    assert.deepEqual(bind(s, { anchor: 'a', hash: 'h' }), ['h', 'a']);
  });

  test('MariaDB: each name becomes ?, in the order they appear', () => {
    const s = compileNamed('UPDATE users SET hash = :hash WHERE id = :anchor OR login = :anchor', 'mariadb');
    assert.equal(s.text, 'UPDATE users SET hash = ? WHERE id = ? OR login = ?');
    assert.deepEqual(bind(s, { anchor: 'a', hash: 'h' }), ['h', 'a', 'a']);
    assert.deepEqual([...s.names], ['hash', 'anchor']);
  });

  test('colons inside strings, quoted names, comments and dollar quotes are not parameters', () => {
    const pg = compileNamed(`SELECT ':no', "a:b", $$ :no $$, $t$ :no $t$, E'\\' :no', x::text /* :no */ -- :no\nFROM t WHERE y = :yes`, 'postgres');
    assert.deepEqual(pg.order, ['yes']);
    assert.match(pg.text, /x::text/);
    assert.match(pg.text, /y = \$1$/);
    const my = compileNamed("SELECT ':no', 'it''s :no', 'back\\' :no', `a:b`, @v := 1 # :no\nFROM t WHERE y = :yes", 'mariadb');
    assert.deepEqual(my.order, ['yes']);
  });

  test('a trailing semicolon is dropped; a second statement is refused', () => {
    assert.equal(compileNamed('SELECT 1 ;  \n', 'postgres').text, 'SELECT 1');
    assert.throws(() => compileNamed('UPDATE t SET a = 1; DROP TABLE t', 'postgres'), /second statement/);
    // A semicolon inside a string is text.
    assert.equal(compileNamed("SELECT ';'", 'mariadb').text, "SELECT ';'");
  });

  test('positional placeholders written by hand are refused with the fix', () => {
    assert.throws(() => compileNamed('SELECT * FROM t WHERE id = $1', 'postgres'), (e: unknown) => e instanceof StatementSyntaxError && /named one/.test(e.message));
    assert.throws(() => compileNamed('SELECT * FROM t WHERE id = ?', 'mariadb'), /named one/);
    // `$` alone (a name, money) and `?` in PostgreSQL (a JSON operator) are not placeholders.
    assert.deepEqual(compileNamed("SELECT a$b, j ? 'k' FROM t", 'postgres').order, []);
  });

  test('unterminated quotes and comments are refused with where they began', () => {
    assert.throws(() => compileNamed("SELECT 'abc", 'postgres'), /string opened at character 8/);
    assert.throws(() => compileNamed('SELECT /* abc', 'mariadb'), /comment opened/);
    assert.throws(() => compileNamed('SELECT $x$ abc', 'postgres'), /dollar-quoted/);
  });

  test('a missing value is an error naming the parameter', () => {
    assert.throws(() => bind(compileNamed('SELECT :anchor', 'postgres'), {}), /no value for :anchor/);
  });
});
