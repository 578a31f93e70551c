import { InvalidInputError } from '../../core/errors.ts';

/** Longer than any login of the systems pwsync knows (AD: 20; Linux: 32; userPrincipalName: 256). */
export const MAX_ACCOUNT_LENGTH = 256;

/**
 * Refuses an account name no directory holds: empty, too long, or with control characters. The
 * name comes from a capture hook; what passes is still escaped (LDAP) or passed as one argument
 * (NSS) by the directory that uses it.
 */
export function validateAccount(account: string): void {
  if (account === '' || account.length > MAX_ACCOUNT_LENGTH) {
    throw new InvalidInputError(`an account name must have 1 to ${MAX_ACCOUNT_LENGTH} characters`);
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(account)) throw new InvalidInputError('an account name must not contain control characters');
}
