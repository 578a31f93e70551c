import { z } from 'zod';
import { durationSchema } from '../../fields/duration.ts';
import { secretRef } from '../../fields/secret-ref.ts';
import { nonBlank } from '../../fields/strings.ts';
import { whenValid } from '../../fields/refine-when.ts';
import { checkEndpoint, ldapFilter, ldapTls, ldapUrl } from '../../ldap-client/config.ts';
import { dnKey } from '../../ldap-client/escape.ts';

/**
 * The directory servers the connector knows apart. `openldap` and `389ds` take the Password Modify
 * extended operation; `ad` (Active Directory, Samba AD) takes `unicodePwd` over TLS.
 */
export const LDAP_FLAVORS = ['openldap', '389ds', 'ad'] as const;
export type LdapFlavor = (typeof LDAP_FLAVORS)[number];

/** The filter an import uses when none is configured. */
export const DEFAULT_FILTERS: Readonly<Record<LdapFlavor, string>> = {
  openldap: '(objectClass=inetOrgPerson)',
  '389ds': '(objectClass=inetOrgPerson)',
  // Computers are users too in AD; objectCategory=person leaves them out.
  ad: '(&(objectCategory=person)(objectClass=user))',
};

/** The groups of each flavor, unless `ldap.groups` says otherwise. */
export const DEFAULT_GROUPS: Readonly<Record<LdapFlavor, { readonly filter: string; readonly nameAttribute: string }>> = {
  openldap: { filter: '(objectClass=groupOfNames)', nameAttribute: 'cn' },
  '389ds': { filter: '(objectClass=groupOfNames)', nameAttribute: 'cn' },
  // sAMAccountName is unique in a domain; a cn only in its container.
  ad: { filter: '(objectClass=group)', nameAttribute: 'sAMAccountName' },
};

const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'an LDAP attribute name');

/** Where and how the directory's groups are read: for a source's `source.protect.groups` and `adminCount`. */
export const ldapGroupsSchema = z
  .strictObject({
    /** Where groups (and entries marked adminCount) are searched. Default: the naming context holding the first base DN (on AD, the domain). */
    baseDn: nonBlank.optional(),
    /** Which entries are groups. Default by flavor: groupOfNames; AD's group. */
    filter: ldapFilter.optional(),
    /** The attribute `source.protect.groups` names a group by. Default: cn; sAMAccountName on AD. */
    nameAttribute: attributeName.optional(),
    /** The attribute that lists a group's members by DN. */
    memberAttribute: attributeName.default('member'),
  })
  .prefault({});

/** The `ldap:` block of a system with `connector: ldap`. */
export const ldapConfigSchema = z
  .strictObject({
    url: ldapUrl,
    /**
     * Other servers of the same directory (domain controllers, replicas), tried in order when `url`
     * cannot be reached; same scheme as `url`, same CA.
     */
    failoverUrls: z.array(ldapUrl).default([]),
    flavor: z.enum(LDAP_FLAVORS).default('openldap'),
    /** The service account: reads the accounts, and sets passwords (by ACL, not as the rootdn). */
    bindDn: nonBlank,
    bindPassword: secretRef(),
    /** Where accounts are searched; no base may lie inside another. */
    baseDns: z.array(nonBlank).min(1),
    /** Which entries are accounts. Default by flavor: inetOrgPerson, or AD's person users. */
    filter: ldapFilter.optional(),
    scope: z.enum(['sub', 'one']).default('sub'),
    /** Entries per page of a paged search (RFC 2696). */
    pageSize: z.number().int().min(1).max(10_000).default(500),
    tls: ldapTls,
    /** Send the bind password and passwords over plain `ldap://` without StartTLS. Never secure. */
    insecurePlaintext: z.boolean().default(false),
    /** Per LDAP operation and per connection attempt. */
    timeout: durationSchema.default(10_000).refine((ms) => ms > 0, 'must be more than 0'),
    /** Service connections kept open; operations overlap on each. */
    connections: z.number().int().min(1).max(32).default(2),
    /**
     * How a password is set on `openldap` and `389ds`: `exop` (Password Modify, RFC 3062: the server
     * hashes and applies its policy) or `hash` (replace `passwordAttribute` with a hash computed here
     * in the system's `password.hash` format). Not used on `ad`.
     */
    passwordMethod: z.enum(['exop', 'hash']).default('exop'),
    passwordAttribute: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'an LDAP attribute name').default('userPassword'),
    /**
     * Before writing, bind as the account with the new password and skip the write when that works
     * (saves history slots and replication). A failed bind counts as a bad password attempt where
     * the directory counts them (AD lockout, ppolicy `pwdMaxFailure`).
     */
    checkBeforeWrite: z.boolean().default(false),
    /** Delta imports read changes from this long before the last watermark (clocks that disagree a little). */
    deltaOverlap: durationSchema.default(10 * 60_000),
    groups: ldapGroupsSchema,
  })
  .superRefine((v, ctx) => {
    checkEndpoint(v, ctx);
    if (v.flavor === 'ad' && v.passwordMethod === 'hash') {
      ctx.addIssue({ code: 'custom', path: ['passwordMethod'], message: 'Active Directory takes passwords only as unicodePwd; a hash cannot be written' });
    }
    v.baseDns.forEach((dn, i) => {
      v.baseDns.forEach((other, j) => {
        if (i === j) return;
        const [a, b] = [dnKey(dn), dnKey(other)];
        if (a === b ? i > j : a.endsWith(`,${b}`)) {
          ctx.addIssue({ code: 'custom', path: ['baseDns', i], message: `lies inside ${other}: its accounts would be read twice` });
        }
      });
    });
  }, whenValid('url', 'failoverUrls', 'insecurePlaintext', 'flavor', 'passwordMethod', 'baseDns'));

export type LdapConfig = z.output<typeof ldapConfigSchema>;
