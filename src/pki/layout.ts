import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';

/** File names inside a PKI directory; the agent side uses CA_CERT and JWE_PUBLIC too. */
export const CA_CERT = 'ca.crt';
export const CA_KEY = 'ca.key';
export const SERVER_CERT = 'server.crt';
export const SERVER_KEY = 'server.key';
export const JWE_PRIVATE = 'server-jwe.key';
export const JWE_PUBLIC = 'server-jwe.pub.json';
export const AGENTS_DIR = 'agents';

/** The CA's default lifetime: ten years, so that agents in the field are not re-issued by surprise. */
export const CA_DAYS = 3652;
/** Leaf lifetime: 825 days, the longest that browsers and Apple's TLS stack still accept. */
export const LEAF_DAYS = 825;
const MAX_DAYS = 36_500;

/** Where the default `pki agent` output for `name` goes under a PKI directory. */
export function agentDir(pkiDir: string, name: string): string {
  return join(pkiDir, AGENTS_DIR, name);
}

/**
 * An agent's name becomes a certificate CN, a file name and a directory name, so it is kept to a
 * safe alphabet: lower-case letters, digits, hyphen and dot, starting with a letter or digit
 * (which also rules out "." and ".."). "ca" would collide with the copied CA certificate.
 */
export function checkAgentName(name: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(name)) {
    throw new InvalidInputError(`agent name "${name}" is not valid: use 1 to 63 lower-case letters, digits, "-" and ".", starting with a letter or digit`);
  }
  if (name === 'ca') {
    throw new InvalidInputError('agent name "ca" is reserved: its certificate would collide with the copied ca.crt; choose another');
  }
  return name;
}

/** A certificate lifetime in whole days; `what` names the option in the message. */
export function checkDays(days: number, what = 'validDays'): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new InvalidInputError(`${what} must be a whole number of days from 1 to ${MAX_DAYS}, not ${String(days)}`);
  }
  return days;
}
