import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from '../config/index.ts';
import { systemSchema } from '../config/schema.ts';
import { HR_AND_APPS, summary, tempDir, type TempDir } from '../../test/support/config.ts';
import { passwordPolicySchema } from './password-policy.ts';

/** `path: message` for each problem zod reports about `input`. */
function problems(input: unknown): string[] {
  const result = passwordPolicySchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

void describe('password.policy schema: what it accepts', () => {
  void it('every key is optional; asciiOnly defaults to false', () => {
    assert.deepEqual(passwordPolicySchema.parse({}), { asciiOnly: false });
  });

  void it('classes defaults: all five counted, none required', () => {
    assert.deepEqual(passwordPolicySchema.parse({ classes: { min: 3 } }).classes, {
      min: 3,
      of: ['lower', 'upper', 'digit', 'symbol', 'otherLetter'],
      require: [],
    });
  });

  void it('the full example of the documentation', () => {
    const policy = passwordPolicySchema.parse({
      minLength: 10,
      maxLength: 64,
      maxBytes: 72,
      classes: { min: 3, of: ['lower', 'upper', 'digit', 'symbol'], require: ['digit'] },
      forbiddenCharacters: '\'";:',
      asciiOnly: true,
    });
    assert.equal(policy.classes?.min, 3);
    assert.equal(policy.forbiddenCharacters, '\'";:');
  });

  void it('is optional in a system, and each system gets arrays of its own', () => {
    const base = { name: 'a', connector: 'file', file: { path: 'a.csv' }, import: { anchor: 'id' } };
    assert.equal(systemSchema.parse(base).password.policy, undefined);
    const withPolicy = { ...base, password: { sync: true, policy: { classes: { min: 2 } } } };
    const [a, b] = [systemSchema.parse(withPolicy), systemSchema.parse(withPolicy)];
    assert.deepEqual(a.password.policy?.classes?.of, b.password.policy?.classes?.of);
    assert.notEqual(a.password.policy?.classes?.of, b.password.policy?.classes?.of);
  });
});

void describe('password.policy schema: what it refuses, naming the field', () => {
  void it('limits that are not positive integers', () => {
    for (const key of ['minLength', 'maxLength', 'maxBytes']) {
      for (const bad of [0, -1, 2.5, '10']) assert.equal(problems({ [key]: bad })[0]?.split(':')[0], key, `${key}: ${String(bad)}`);
    }
    assert.deepEqual(problems({ maxLength: 65_536 }), []);
    assert.equal(problems({ maxLength: 65_537 }).length, 1);
  });

  void it('minLength above maxLength, or above maxBytes', () => {
    assert.deepEqual(problems({ minLength: 10, maxLength: 9 }), ['minLength: must be at most maxLength (9)']);
    assert.deepEqual(problems({ minLength: 10, maxLength: 10 }), []);
    assert.deepEqual(problems({ minLength: 10, maxBytes: 9 }), ['maxBytes: must be at least minLength (10): every character takes at least one byte']);
  });

  void it('classes.min above the number of classes counted', () => {
    assert.deepEqual(problems({ classes: { min: 3, of: ['lower', 'upper'] } }), ['classes.min: must be at most the number of classes in "of" (2)']);
    assert.equal(problems({ classes: { min: 6 } })[0]?.split(':')[0], 'classes.min');
    assert.equal(problems({ classes: { min: 0 } })[0]?.split(':')[0], 'classes.min');
  });

  void it('a class listed twice, an unknown class, an empty of', () => {
    assert.deepEqual(problems({ classes: { of: ['lower', 'digit', 'lower'] } }), ['classes.of: lists "lower" twice']);
    assert.deepEqual(problems({ classes: { require: ['digit', 'digit'] } }), ['classes.require: lists "digit" twice']);
    assert.equal(problems({ classes: { require: ['number'] } })[0]?.split(':')[0], 'classes.require.0');
    assert.equal(problems({ classes: { of: [] } })[0]?.split(':')[0], 'classes.of');
  });

  void it('classes that asciiOnly makes impossible', () => {
    assert.deepEqual(problems({ asciiOnly: true, classes: { require: ['otherLetter'] } }), ['classes.require: requires otherLetter, which asciiOnly: true refuses']);
    assert.deepEqual(problems({ asciiOnly: true, classes: { min: 5 } }), ['classes.min: must be at most 4: with asciiOnly: true no otherLetter can occur']);
    assert.deepEqual(problems({ asciiOnly: true, classes: { min: 4 } }), []);
  });

  void it('classes that need more characters than maxLength or maxBytes allow', () => {
    assert.deepEqual(problems({ maxLength: 2, classes: { min: 3 } }), ['classes: needs at least 3 characters, more than maxLength (2) allows']);
    // digit is outside `of`, so it needs a character of its own besides the two of `of`.
    assert.deepEqual(problems({ maxBytes: 2, classes: { min: 2, of: ['lower', 'upper'], require: ['digit'] } }), ['classes: needs at least 3 characters, more than maxBytes (2) allows']);
    assert.deepEqual(problems({ maxLength: 3, classes: { min: 2, of: ['lower', 'upper'], require: ['digit', 'lower'] } }), []);
  });

  void it('an empty forbiddenCharacters, or one with a lone surrogate', () => {
    assert.equal(problems({ forbiddenCharacters: '' })[0]?.split(':')[0], 'forbiddenCharacters');
    assert.deepEqual(problems({ forbiddenCharacters: 'a\ud800' }), ['forbiddenCharacters: must be valid Unicode text (it holds a lone surrogate)']);
  });

  void it('unknown keys', () => {
    assert.equal(problems({ minLenght: 3 })[0]?.startsWith(':'), true); // reported on the mapping, key named by the loader (below)
    assert.equal(problems({ classes: { required: 3 } }).length, 1);
  });
});

void describe('password.policy in a configuration file', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  void it('every problem at once, each with its path, line and a message naming the field', async () => {
    const file = await tmp.write('policy.yaml', [
      ...HR_AND_APPS.slice(0, -1),
      '    password:', //                                              12
      '      sync: true', //                                           13
      '      hash: bcrypt', //                                         14
      '      policy:', //                                              15
      '        minLength: 80', //                                      16
      '        maxLenght: 64', //                                      17
      '        maxBytes: 72', //                                       18
      '        classes: { min: 5, of: [lower, upper, digit, symbol] }', // 19
    ]);
    const { config, problems: found } = await checkConfig(file);
    assert.equal(config, undefined);
    assert.deepEqual(summary(found), [
      'UNKNOWN_KEY systems[1] (apps).password.policy.maxLenght @17',
      'INVALID_VALUE systems[1] (apps).password.policy.maxBytes @18',
      'INVALID_VALUE systems[1] (apps).password.policy.classes.min @19',
    ]);
    assert.match(found[0]?.message ?? '', /did you mean "maxLength"/);
    assert.match(found[1]?.message ?? '', /at least minLength \(80\)/);
    assert.match(found[2]?.message ?? '', /"of" \(4\)/);
  });

  void it('a rule between two fields is reported on the field it blames', async () => {
    const file = await tmp.write('policy-cross.yaml', [
      ...HR_AND_APPS.slice(0, -1),
      '    password:', //                                              12
      '      sync: true', //                                           13
      '      hash: bcrypt', //                                         14
      '      policy:', //                                              15
      '        minLength: 80', //                                      16
      '        maxBytes: 72', //                                       17
    ]);
    const { problems: found } = await checkConfig(file);
    assert.deepEqual(summary(found), ['INVALID_VALUE systems[1] (apps).password.policy.maxBytes @17']);
    assert.match(found[0]?.message ?? '', /at least minLength \(80\)/);
  });

  void it('a valid policy loads with its defaults', async () => {
    const file = await tmp.write('policy-ok.yaml', [
      ...HR_AND_APPS.slice(0, -1),
      '    password:',
      '      sync: true',
      '      hash: bcrypt',
      '      policy:',
      '        minLength: 10',
      '        maxBytes: 72',
      '        classes: { min: 3, require: [digit] }',
      '        forbiddenCharacters: "\'\\";:"',
    ]);
    const { config, problems: found } = await checkConfig(file);
    assert.deepEqual(summary(found), []);
    const apps = config?.systems.find((s) => s.name === 'apps');
    assert.deepEqual(apps?.password.policy, {
      minLength: 10,
      maxBytes: 72,
      classes: { min: 3, of: ['lower', 'upper', 'digit', 'symbol', 'otherLetter'], require: ['digit'] },
      forbiddenCharacters: '\'";:',
      asciiOnly: false,
    });
  });
});
