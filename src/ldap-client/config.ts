import { FilterParser } from 'ldapts';
import { z } from 'zod';
import { nonBlank } from '../fields/strings.ts';
import { whenValid } from '../fields/refine-when.ts';
import { isPin } from './tls.ts';

/*
 * Configuration pieces every LDAP connection shares: the agent's scope directory and the ldap
 * connector's `ldap:` block are written the same way.
 */

/** Whether `filter` parses as an RFC 4515 filter. */
export function parsesAsFilter(filter: string): boolean {
  try {
    FilterParser.parseString(filter);
    return true;
  } catch {
    return false;
  }
}

export const ldapFilter = z.string().refine(parsesAsFilter, 'not a valid LDAP filter (RFC 4515)');

/**
 * `ldaps://host[:port]` (TLS from the first byte) or `ldap://host[:port]` (upgraded with StartTLS
 * before the bind, unless `insecurePlaintext`).
 */
export const ldapUrl = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return (url.protocol === 'ldap:' || url.protocol === 'ldaps:') && url.hostname !== '' && (url.pathname === '' || url.pathname === '/') && url.search === '';
  } catch {
    return false;
  }
}, 'expected ldap://host[:port] or ldaps://host[:port]');

export const ldapTls = z
  .strictObject({
    /** A PEM file of the CA(s) to trust instead of the system's, relative to the configuration file. */
    ca: nonBlank.optional(),
    /** Only for a test directory: `false` accepts any server certificate (and is never secure). */
    rejectUnauthorized: z.boolean().default(true),
    /**
     * Public keys the server's verified chain must hold one of, as `sha256/<base64 of the SPKI's
     * SHA-256>` (`openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst
     * -sha256 -binary | base64`). Pin the CA's key to survive renewals of the server's certificate.
     */
    pins: z.array(z.string().refine(isPin, 'expected sha256/ followed by 44 base64 characters')).default([]),
  })
  .superRefine((v, ctx) => {
    // Node checks the server's identity (and so the pins) only when it verifies the certificate.
    if (!v.rejectUnauthorized && v.pins.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['pins'], message: 'pins are checked only when the certificate is verified: they would be ignored with rejectUnauthorized false' });
    }
  }, whenValid('rejectUnauthorized', 'pins'))
  .prefault({});

/**
 * The checks every LDAP endpoint's settings share: `insecurePlaintext` contradicts ldaps://, and a
 * failover server uses the scheme of `url` (the connection's security must not depend on which
 * server answers). A url that is not ldap(s):// at all has its own issue already.
 */
export function checkEndpoint(v: { readonly url: string; readonly failoverUrls: readonly string[]; readonly insecurePlaintext: boolean }, ctx: z.RefinementCtx): void {
  const scheme = (u: string): string => u.toLowerCase().split(':')[0] ?? '';
  if (v.insecurePlaintext && scheme(v.url) === 'ldaps') {
    ctx.addIssue({ code: 'custom', path: ['insecurePlaintext'], message: 'contradicts an ldaps:// url' });
  }
  v.failoverUrls.forEach((u, i) => {
    if (['ldap', 'ldaps'].includes(scheme(u)) && scheme(u) !== scheme(v.url)) {
      ctx.addIssue({ code: 'custom', path: ['failoverUrls', i], message: `must use the same scheme as url (${scheme(v.url)}://): the connection's security must not depend on which server answers` });
    }
  });
}
