import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyError } from './errors.ts';
import { Secret } from './secret.ts';
import {
  checkPasswordPolicy,
  enforcePasswordPolicy,
  passwordPolicySchema,
  type PasswordPolicyInput,
  type PolicyRule,
} from './password-policy.ts';
import { EVENT } from './events.ts';

const policy = (input: PasswordPolicyInput) => passwordPolicySchema.parse(input);
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** The rules `password` fails under `input`, in the order reported. */
function rules(input: PasswordPolicyInput, password: string | Uint8Array): PolicyRule[] {
  return checkPasswordPolicy(policy(input), typeof password === 'string' ? utf8(password) : password).map((v) => v.rule);
}

void describe('checkPasswordPolicy: lengths', () => {
  void it('an empty policy accepts anything that is UTF-8', () => {
    assert.deepEqual(rules({}, ''), []);
    assert.deepEqual(rules({}, 'x'.repeat(1000)), []);
  });

  void it('minLength and maxLength at their boundaries', () => {
    const p = { minLength: 10, maxLength: 12 };
    assert.deepEqual(rules(p, 'a'.repeat(9)), ['minLength']);
    assert.deepEqual(rules(p, 'a'.repeat(10)), []);
    assert.deepEqual(rules(p, 'a'.repeat(12)), []);
    assert.deepEqual(rules(p, 'a'.repeat(13)), ['maxLength']);
    assert.deepEqual(rules({ minLength: 1 }, ''), ['minLength']);
  });

  void it('counts characters as code points, not bytes or UTF-16 units', () => {
    // ä: 2 bytes; 漢: 3 bytes; 😀: 4 bytes and two UTF-16 units; each one character.
    const four = 'ä漢😀a';
    assert.equal(utf8(four).length, 10);
    assert.deepEqual(rules({ minLength: 4, maxLength: 4 }, four), []);
    assert.deepEqual(rules({ minLength: 5 }, four), ['minLength']);
    assert.deepEqual(rules({ maxLength: 3 }, four), ['maxLength']);
    // A decomposed é (e + U+0301) is two code points, as the application sees it.
    assert.deepEqual(rules({ maxLength: 1 }, 'e\u0301'), ['maxLength']);
  });

  void it('maxBytes counts UTF-8 bytes (bcrypt reads 72)', () => {
    assert.deepEqual(rules({ maxBytes: 72 }, 'a'.repeat(72)), []);
    assert.deepEqual(rules({ maxBytes: 72 }, 'a'.repeat(73)), ['maxBytes']);
    // 36 characters of two bytes each fit; one more byte does not, though only 37 characters.
    assert.deepEqual(rules({ maxBytes: 72, maxLength: 64 }, 'ä'.repeat(36)), []);
    assert.deepEqual(rules({ maxBytes: 72, maxLength: 64 }, `${'ä'.repeat(36)}a`), ['maxBytes']);
  });

  void it('messages give the counts and the limit, and name the key', () => {
    const [short] = checkPasswordPolicy(policy({ minLength: 10 }), utf8('abcdefg'));
    assert.equal(short?.message, 'is 7 characters, fewer than the 10 required (minLength)');
    const [one] = checkPasswordPolicy(policy({ minLength: 2 }), utf8('a'));
    assert.equal(one?.message, 'is 1 character, fewer than the 2 required (minLength)');
    const [bytes] = checkPasswordPolicy(policy({ maxBytes: 3 }), utf8('ää'));
    assert.equal(bytes?.message, 'is 4 bytes in UTF-8, more than the 3 allowed (maxBytes)');
  });
});

void describe('checkPasswordPolicy: characters', () => {
  void it('asciiOnly refuses any character above U+007F', () => {
    assert.deepEqual(rules({ asciiOnly: true }, 'Plain-ASCII ~ 123'), []);
    assert.deepEqual(rules({ asciiOnly: true }, 'Pässword'), ['asciiOnly']);
    assert.deepEqual(rules({ asciiOnly: true }, '\u00a0'), ['asciiOnly']); // no-break space
    assert.deepEqual(rules({ asciiOnly: false }, 'Pässword'), []);
  });

  void it('forbiddenCharacters matches by code point, also outside ASCII and the BMP', () => {
    const p = { forbiddenCharacters: '\'";:€😀' };
    assert.deepEqual(rules(p, 'fine-password'), []);
    for (const bad of ["it's", 'a"b', 'a;b', 'a:b', '100€', 'smile😀']) assert.deepEqual(rules(p, bad), ['forbiddenCharacters'], bad);
    // 😃 shares 😀's high surrogate and three of its four UTF-8 bytes; it is not forbidden.
    assert.deepEqual(rules(p, 'smile😃'), []);
  });

  void it('the forbidden message lists the configured set, with invisible characters as U+XXXX', () => {
    const [v] = checkPasswordPolicy(policy({ forbiddenCharacters: '\'";: \t;' }), utf8('a b'));
    assert.equal(v?.message, 'contains a character the policy forbids (forbiddenCharacters: \' " ; : U+0020 U+0009)');
  });
});

void describe('checkPasswordPolicy: character classes', () => {
  const all = { classes: { min: 3 } };

  void it('ASCII classes by range: lower, upper, digit, symbol (space and punctuation)', () => {
    assert.deepEqual(rules(all, 'abcDEF123'), []);
    assert.deepEqual(rules(all, 'abc DEF'), []); // space is a symbol
    assert.deepEqual(rules(all, 'abc~123'), []);
    assert.deepEqual(rules(all, 'abcdef123'), ['classes.min']);
    assert.deepEqual(rules(all, 'azAZ09'), []); // the ends of each range
    // Neighbours of the ranges: ` { @ [ / : are symbols, so these have symbol + one letter class.
    assert.deepEqual(rules(all, '`{a'), ['classes.min']);
    assert.deepEqual(rules(all, '@[A'), ['classes.min']);
    assert.deepEqual(rules(all, '/:0'), ['classes.min']);
  });

  void it('control characters and DEL belong to no class', () => {
    assert.deepEqual(rules({ classes: { min: 1 } }, '\t\n\u007f'), ['classes.min']);
    assert.deepEqual(rules({ classes: { require: ['symbol'] } }, 'a\tb'), ['classes.require']);
  });

  void it('outside ASCII: cased letters by case, letters without case, any decimal digit', () => {
    const lowerOnly: PasswordPolicyInput = { classes: { require: ['lower'], min: 1, of: ['lower'] } };
    for (const ch of ['é', 'ß', 'ж', 'ω']) assert.deepEqual(rules(lowerOnly, ch), [], ch);
    for (const ch of ['É', 'Ж', 'Ω', 'ǅ']) assert.deepEqual(rules({ classes: { require: ['upper'] } }, ch), [], ch);
    for (const ch of ['漢', 'あ', 'ع', 'א']) assert.deepEqual(rules({ classes: { require: ['otherLetter'] } }, ch), [], ch);
    for (const ch of ['٣', '३']) assert.deepEqual(rules({ classes: { require: ['digit'] } }, ch), [], ch);
    for (const ch of ['€', '¿', '😀', '\u00a0', '²']) assert.deepEqual(rules({ classes: { require: ['symbol'] } }, ch), [], ch);
    // A letter without case is neither lower nor upper.
    assert.deepEqual(rules({ classes: { require: ['lower', 'upper'] } }, '漢'), ['classes.require']);
  });

  void it('combining marks and format characters belong to no class', () => {
    // "e" + COMBINING ACUTE: one lower letter, no symbol.
    assert.deepEqual(rules({ classes: { require: ['symbol'] } }, 'e\u0301'), ['classes.require']);
    assert.deepEqual(rules({ classes: { min: 2 } }, 'e\u0301\u200d'), ['classes.min']);
  });

  void it('min counts only the classes listed in of', () => {
    const p: PasswordPolicyInput = { classes: { min: 3, of: ['lower', 'upper', 'digit', 'symbol'] } };
    assert.deepEqual(rules(p, 'abc漢字1'), ['classes.min']); // otherLetter does not count here
    assert.deepEqual(rules({ classes: { min: 3 } }, 'abc漢字1'), []); // by default it does (Windows' fifth class)
  });

  void it('require names every missing class at once', () => {
    const p: PasswordPolicyInput = { classes: { require: ['digit', 'symbol', 'upper'] } };
    const [v] = checkPasswordPolicy(policy(p), utf8('abcDEF'));
    assert.deepEqual(v, { rule: 'classes.require', message: 'contains no digit and no symbol (classes.require)' });
    assert.deepEqual(rules(p, 'aB1!'), []);
  });

  void it('the min message gives the count and the classes counted', () => {
    const [v] = checkPasswordPolicy(policy({ classes: { min: 3, of: ['lower', 'upper', 'digit', 'symbol'] } }), utf8('abc123'));
    assert.equal(v?.message, 'has characters of 2 of the classes lower, upper, digit, symbol, fewer than the 3 required (classes.min)');
  });
});

void describe('checkPasswordPolicy: bytes that are not UTF-8', () => {
  const invalid: [string, number[]][] = [
    ['a stray continuation byte', [0x61, 0x80, 0x62]],
    ['a lead byte without its continuation', [0x61, 0xc3]],
    ['a three-byte sequence cut short', [0xe6, 0xbc]],
    ['a lead byte followed by ASCII', [0xc3, 0x41]],
    ['an overlong two-byte form (C0 AF = "/")', [0xc0, 0xaf]],
    ['an overlong three-byte form', [0xe0, 0x80, 0xaf]],
    ['an overlong four-byte form', [0xf0, 0x80, 0x80, 0xaf]],
    ['an encoded surrogate (U+D800)', [0xed, 0xa0, 0x80]],
    ['a value above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['an F5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
    ['an FF byte', [0xff]],
  ];
  for (const [what, bytes] of invalid) {
    void it(`refuses ${what}, and reports nothing else`, () => {
      const violations = checkPasswordPolicy(policy({ minLength: 50, asciiOnly: true, classes: { min: 4 } }), Uint8Array.from(bytes));
      assert.deepEqual(violations, [{ rule: 'encoding', message: 'is not valid UTF-8 text' }]);
    });
  }

  void it('accepts the edges of each well-formed range', () => {
    const edges = [[0x7f], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80], [0xef, 0xbf, 0xbf], [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf]];
    for (const e of edges) assert.deepEqual(rules({ maxLength: 1, minLength: 1 }, Uint8Array.from(e)), [], e.map((b) => b.toString(16)).join(' '));
  });
});

void describe('checkPasswordPolicy: several failures', () => {
  void it('reports every failed rule together, in a fixed order', () => {
    const p: PasswordPolicyInput = { minLength: 4, maxBytes: 5, asciiOnly: true, forbiddenCharacters: ';', classes: { min: 3, require: ['digit'] } };
    assert.deepEqual(rules(p, 'ä;b'), ['minLength', 'asciiOnly', 'forbiddenCharacters', 'classes.min', 'classes.require']);
    assert.deepEqual(rules(p, 'äää;b'), ['maxBytes', 'asciiOnly', 'forbiddenCharacters', 'classes.min', 'classes.require']);
  });
});

void describe('enforcePasswordPolicy', () => {
  void it('throws a PolicyError (6927, not retried) naming the system and every failed rule', () => {
    const p = policy({ minLength: 10, classes: { require: ['digit'] } });
    assert.throws(
      () => enforcePasswordPolicy(p, utf8('abcdefg'), 'billing'),
      (e: unknown) => {
        assert.ok(e instanceof PolicyError, 'a PolicyError');
        assert.equal(e.code, 'ERR_POLICY');
        assert.equal(e.event, EVENT.POLICY_REFUSED);
        assert.equal(e.retryable, false);
        assert.equal(
          e.message,
          'the password does not satisfy the policy of system "billing": it is 7 characters, fewer than the 10 required (minLength); it contains no digit (classes.require)',
        );
        return true;
      },
    );
    assert.doesNotThrow(() => enforcePasswordPolicy(p, utf8('abcdefg123'), 'billing'));
  });

  void it('works on the bytes a Secret lends', async () => {
    const secret = Secret.fromString('short');
    await assert.rejects(
      secret.use((clear) => enforcePasswordPolicy(policy({ minLength: 8 }), clear, 'apps')),
      { code: 'ERR_POLICY' },
    );
  });
});

void describe('no message carries the password', () => {
  // Each password fails some rules of each policy; then the password, each of its characters
  // outside the messages' own alphabet, and every run of three of its characters are looked for
  // in every message. The forbidden set is kept apart from the passwords' characters, since the
  // message lists it on purpose.
  const passwords = ['Zq\u00e9\u6f22\u{1f600}xY', 'Xk7%Qw_vJ', 'Kw\u00ffrg\u0127\u00f8\u00df\u00f1'];
  const policies = [
    policy({ minLength: 40, asciiOnly: true, forbiddenCharacters: '#', classes: { min: 4, of: ['lower', 'upper', 'digit', 'symbol'], require: ['digit', 'symbol'] } }),
    policy({ maxLength: 2, maxBytes: 3, forbiddenCharacters: '#' }),
  ];

  passwords.forEach((password, n) => {
    void it(`password ${n + 1} (${Array.from(password).length} characters of mixed scripts)`, () => {
      for (const p of policies) {
        const violations = checkPasswordPolicy(p, utf8(password));
        assert.ok(violations.length > 0, 'the password fails the policy');
        let message = '';
        try {
          enforcePasswordPolicy(p, utf8(password), 'apps');
        } catch (e) {
          assert.ok(e instanceof PolicyError, 'a PolicyError');
          message = e.message;
        }
        assert.notEqual(message, '');
        const chars = Array.from(password);
        for (const text of [message, ...violations.map((v) => v.message)]) {
          assert.ok(!text.includes(password), `a message holds the password: ${text}`);
          for (const ch of chars) if (!/[a-z0-9 ]/i.test(ch)) assert.ok(!text.includes(ch), `a message holds a character of the password: ${text}`);
          for (let i = 0; i + 3 <= chars.length; i++) assert.ok(!text.includes(chars.slice(i, i + 3).join('')), `a message holds part of the password: ${text}`);
        }
      }
    });
  });

  void it('the message for bytes that are not UTF-8 names no byte', () => {
    assert.throws(() => enforcePasswordPolicy(policies[0] ?? policy({}), Uint8Array.from([0x41, 0xc3, 0x28]), 'apps'), {
      message: 'the password does not satisfy the policy of system "apps": it is not valid UTF-8 text',
    });
  });
});
