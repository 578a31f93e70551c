/**
 * A system's password policy, as its administrator describes it: many applications' limits live
 * only in their code, so pwsync checks a password against them before writing it, and a refusal
 * ends the job in 6927 rather than in whatever the application does with a password it cannot
 * store.
 *
 * Why in `core/`: the check is a domain rule (bytes in, verdict out, no I/O) with callers in two
 * layers, the delivery worker (`sync/deliver.ts`) and the self-service and helpdesk code, which
 * must check a new password against every target system of a person before accepting it. Its
 * schema lives beside it, as each connector's schema lives beside its code, so what the
 * configuration may say and what the check does are read in one file; `config/schema.ts` only
 * places it at `password.policy`. zod is this module's only import that is not `core/` itself.
 *
 * The password is read as UTF-8 bytes and decoded here, one code point at a time: it never
 * becomes a JS string, and no message names any of its characters (only counts, and the
 * configured forbidden set).
 */
import { z } from 'zod';
import { PolicyError } from './errors.ts';

/**
 * The classes a character may belong to. `otherLetter` is a letter without case (Chinese,
 * Japanese, Arabic, Hebrew, …), Windows' fifth complexity category. Combining marks, control and
 * format characters belong to none.
 */
export const CHARACTER_CLASSES = ['lower', 'upper', 'digit', 'symbol', 'otherLetter'] as const;
export type CharacterClass = (typeof CHARACTER_CLASSES)[number];

const CLASS_NAMES: Record<CharacterClass, string> = {
  lower: 'lower-case letter',
  upper: 'upper-case letter',
  digit: 'digit',
  symbol: 'symbol',
  otherLetter: 'letter without case',
};

/** The largest limit accepted: a `file:` secret, the largest password pwsync reads, is 64 KiB. */
const MAX_LIMIT = 65_536;
const limit = z.number().int().min(1).max(MAX_LIMIT);

const classList = z.array(z.enum(CHARACTER_CLASSES)).superRefine((list, ctx) => {
  const seen = new Set<CharacterClass>();
  for (const c of list) {
    if (seen.has(c)) ctx.addIssue({ code: 'custom', message: `lists "${c}" twice` });
    seen.add(c);
  }
});

export const characterClassesSchema = z
  .strictObject({
    /** At least this many different classes of `of` must occur. */
    min: z.number().int().min(1).max(CHARACTER_CLASSES.length).optional(),
    /** The classes `min` counts; default all five. */
    of: classList.min(1).default(() => [...CHARACTER_CLASSES]),
    /** Classes that must each occur, whether or not `of` lists them. */
    require: classList.default(() => []),
  })
  .superRefine((v, ctx) => {
    if (v.min !== undefined && v.min > v.of.length) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `must be at most the number of classes in "of" (${v.of.length})` });
    }
  });

/** Whether `text` is well-formed UTF-16 (no lone surrogate), so every character can be matched. */
function wellFormed(text: string): boolean {
  for (const ch of text) {
    const unit = ch.codePointAt(0) ?? 0;
    if (unit >= 0xd800 && unit <= 0xdfff) return false;
  }
  return true;
}

export const passwordPolicySchema = z
  .strictObject({
    /** Fewest characters (Unicode code points). */
    minLength: limit.optional(),
    /** Most characters (Unicode code points). */
    maxLength: limit.optional(),
    /** Most bytes in UTF-8 (bcrypt reads only 72). */
    maxBytes: limit.optional(),
    classes: characterClassesSchema.optional(),
    /** Characters the application cannot store. Not a secret: messages list them. */
    forbiddenCharacters: z.string().min(1).refine(wellFormed, 'must be valid Unicode text (it holds a lone surrogate)').optional(),
    /** Refuse any character outside ASCII. */
    asciiOnly: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    if (v.minLength !== undefined && v.maxLength !== undefined && v.minLength > v.maxLength) {
      ctx.addIssue({ code: 'custom', path: ['minLength'], message: `must be at most maxLength (${v.maxLength})` });
    }
    if (v.minLength !== undefined && v.maxBytes !== undefined && v.minLength > v.maxBytes) {
      ctx.addIssue({ code: 'custom', path: ['maxBytes'], message: `must be at least minLength (${v.minLength}): every character takes at least one byte` });
    }
    const { classes } = v;
    if (classes === undefined) return;
    if (v.asciiOnly) {
      if (classes.require.includes('otherLetter')) {
        ctx.addIssue({ code: 'custom', path: ['classes', 'require'], message: 'requires otherLetter, which asciiOnly: true refuses' });
      }
      const reachable = classes.of.filter((c) => c !== 'otherLetter').length;
      if (classes.min !== undefined && classes.min > reachable && reachable < classes.of.length) {
        ctx.addIssue({ code: 'custom', path: ['classes', 'min'], message: `must be at most ${reachable}: with asciiOnly: true no otherLetter can occur` });
      }
    }
    // One character per required class outside `of`, and enough of `of` for `min` (required ones count).
    const outside = classes.require.filter((c) => !classes.of.includes(c)).length;
    const needed = outside + Math.max(classes.min ?? 0, classes.require.length - outside);
    for (const bound of ['maxLength', 'maxBytes'] as const) {
      const max = v[bound];
      if (max !== undefined && needed > max) {
        ctx.addIssue({ code: 'custom', path: ['classes'], message: `needs at least ${needed} characters, more than ${bound} (${max}) allows` });
      }
    }
  });

export type PasswordPolicy = z.output<typeof passwordPolicySchema>;
export type PasswordPolicyInput = z.input<typeof passwordPolicySchema>;

/** The policy keys a password can fail, by their path under `password.policy`; `encoding` is not UTF-8. */
export type PolicyRule = 'encoding' | 'maxBytes' | 'minLength' | 'maxLength' | 'asciiOnly' | 'forbiddenCharacters' | 'classes.min' | 'classes.require';

/** One rule a password fails. The message never holds a character of the password. */
export interface PolicyViolation {
  readonly rule: PolicyRule;
  /** A clause about the password, e.g. `is 7 characters, fewer than the 10 required (minLength)`. */
  readonly message: string;
}

/**
 * Every rule of `policy` that `clear` (the password's UTF-8 bytes, as `Secret.use` lends them)
 * fails, in a fixed order; empty when it passes. All failures are reported together, so a person
 * choosing a new password learns everything wrong with it at once. Bytes that are not UTF-8 are
 * one failure (`encoding`) and nothing else is checked: there are no characters to count.
 */
export function checkPasswordPolicy(policy: PasswordPolicy, clear: Uint8Array): PolicyViolation[] {
  const forbidden = new Set<number>();
  if (policy.forbiddenCharacters !== undefined) for (const ch of policy.forbiddenCharacters) forbidden.add(ch.codePointAt(0) ?? 0);
  let characters = 0;
  let nonAscii = false;
  let forbiddenSeen = false;
  const present = new Set<CharacterClass>();
  for (const cp of codePoints(clear)) {
    if (cp === INVALID) return [{ rule: 'encoding', message: 'is not valid UTF-8 text' }];
    characters++;
    if (cp >= 0x80) nonAscii = true;
    if (forbidden.has(cp)) forbiddenSeen = true;
    const c = classify(cp);
    if (c !== undefined) present.add(c);
  }

  const out: PolicyViolation[] = [];
  const add = (rule: PolicyRule, message: string): void => {
    out.push({ rule, message });
  };
  if (policy.maxBytes !== undefined && clear.length > policy.maxBytes) {
    add('maxBytes', `is ${clear.length} bytes in UTF-8, more than the ${policy.maxBytes} allowed (maxBytes)`);
  }
  if (policy.minLength !== undefined && characters < policy.minLength) {
    add('minLength', `is ${plural(characters, 'character')}, fewer than the ${policy.minLength} required (minLength)`);
  }
  if (policy.maxLength !== undefined && characters > policy.maxLength) {
    add('maxLength', `is ${plural(characters, 'character')}, more than the ${policy.maxLength} allowed (maxLength)`);
  }
  if (policy.asciiOnly && nonAscii) add('asciiOnly', 'contains a character outside ASCII (asciiOnly)');
  if (forbiddenSeen && policy.forbiddenCharacters !== undefined) {
    add('forbiddenCharacters', `contains a character the policy forbids (forbiddenCharacters: ${showCharacters(policy.forbiddenCharacters)})`);
  }
  const { classes } = policy;
  if (classes !== undefined) {
    const counted = classes.of.filter((c) => present.has(c)).length;
    if (classes.min !== undefined && counted < classes.min) {
      add('classes.min', `has characters of ${counted} of the classes ${classes.of.join(', ')}, fewer than the ${classes.min} required (classes.min)`);
    }
    const missing = classes.require.filter((c) => !present.has(c));
    if (missing.length > 0) add('classes.require', `contains no ${missing.map((c) => CLASS_NAMES[c]).join(' and no ')} (classes.require)`);
  }
  return out;
}

/** The error a delivery (or a self-service form) ends in: the system and every failed rule, no character of the password. */
export function passwordPolicyError(system: string, violations: readonly PolicyViolation[]): PolicyError {
  return new PolicyError(`the password does not satisfy the policy of system "${system}": ${violations.map((v) => `it ${v.message}`).join('; ')}`);
}

/** Throws a {@link PolicyError} (event 6927, not retried) naming every rule of `system`'s policy that `clear` fails. */
export function enforcePasswordPolicy(policy: PasswordPolicy, clear: Uint8Array, system: string): void {
  const violations = checkPasswordPolicy(policy, clear);
  if (violations.length > 0) throw passwordPolicyError(system, violations);
}

/** What {@link codePoints} yields at the first ill-formed byte sequence, and nothing after it. */
export const INVALID = -1;

/**
 * The code points of UTF-8 bytes (RFC 3629, Unicode's table of well-formed byte sequences), one
 * at a time; {@link INVALID}, and nothing after it, at anything ill-formed: a stray continuation
 * byte, a truncated sequence, an overlong form, a surrogate, a value above U+10FFFF.
 */
export function* codePoints(bytes: Uint8Array): Generator<number, void, undefined> {
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] ?? 0;
    let length: number;
    let cp: number;
    // The allowed range of the second byte; later continuation bytes are always 80..BF.
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 < 0x80) {
      length = 1;
      cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      length = 2;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      length = 3;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lo = 0xa0; // overlong below U+0800
      if (b0 === 0xed) hi = 0x9f; // surrogates U+D800..U+DFFF
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      length = 4;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lo = 0x90; // overlong below U+10000
      if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
    } else {
      yield INVALID; // 80..C1 (continuation or overlong lead), F5..FF
      return;
    }
    if (i + length > bytes.length) {
      yield INVALID;
      return;
    }
    for (let k = 1; k < length; k++) {
      const b = bytes[i + k] ?? 0;
      if (b < (k === 1 ? lo : 0x80) || b > (k === 1 ? hi : 0xbf)) {
        yield INVALID;
        return;
      }
      cp = (cp << 6) | (b & 0x3f);
    }
    yield cp;
    i += length;
  }
}

// Outside ASCII, JavaScript offers Unicode properties only through regular expressions, so each
// such code point is tested as a one-character string of its own: at most two UTF-16 units, never
// more of the password than that one character, dropped when `classify` returns.
const LOWER = /^\p{Ll}$/u;
const UPPER = /^[\p{Lu}\p{Lt}]$/u;
const OTHER_LETTER = /^[\p{Lm}\p{Lo}]$/u;
const DIGIT = /^\p{Nd}$/u;
const NO_CLASS = /^[\p{M}\p{Cc}\p{Cf}]$/u;

/**
 * The class of one code point. ASCII by ranges; above it, Unicode's general category: cased
 * letters by their case (é is lower, Ж upper, titlecase counts as upper), letters without case
 * are `otherLetter`, any decimal digit (Nd) is a digit, combining marks and control and format
 * characters are in no class (a decomposed é must not pass for a symbol), everything else
 * (punctuation, symbols, spaces, other numbers, private use) is a symbol.
 */
function classify(cp: number): CharacterClass | undefined {
  if (cp < 0x80) {
    if (cp >= 0x61 && cp <= 0x7a) return 'lower';
    if (cp >= 0x41 && cp <= 0x5a) return 'upper';
    if (cp >= 0x30 && cp <= 0x39) return 'digit';
    if (cp >= 0x20 && cp <= 0x7e) return 'symbol'; // space and punctuation
    return undefined; // C0 controls and DEL
  }
  const ch = String.fromCodePoint(cp);
  if (LOWER.test(ch)) return 'lower';
  if (UPPER.test(ch)) return 'upper';
  if (OTHER_LETTER.test(ch)) return 'otherLetter';
  if (DIGIT.test(ch)) return 'digit';
  if (NO_CLASS.test(ch)) return undefined;
  return 'symbol';
}

const VISIBLE = /^[\p{L}\p{N}\p{P}\p{S}]$/u;

/** The configured forbidden set for a message: visible characters as they are, others as U+XXXX. */
function showCharacters(text: string): string {
  return [...new Set(text)]
    .map((ch) => (VISIBLE.test(ch) ? ch : `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`))
    .join(' ');
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
