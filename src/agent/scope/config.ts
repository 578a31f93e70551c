import { z } from 'zod';
import { durationBetween, durationSchema } from '../../fields/duration.ts';
import { whenValid } from '../../fields/refine-when.ts';
import { secretRef } from '../../fields/secret-ref.ts';
import { nonBlank } from '../../fields/strings.ts';
import { checkEndpoint, ldapTls, ldapUrl, parsesAsFilter } from '../../ldap-client/config.ts';

/** The placeholder in `userFilter` replaced by the account name, escaped per RFC 4515. */
export const ACCOUNT_PLACEHOLDER = '{account}';

const groupName = nonBlank.max(256);
const attrName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'an LDAP attribute name');

/** The source directory read over LDAP: OpenLDAP, 389 DS, Active Directory, Samba AD. */
export const ldapDirectorySchema = z
  .strictObject({
    /**
     * `ldaps://host[:port]` (TLS from the first byte) or `ldap://host[:port]` (upgraded with
     * StartTLS before the bind, unless `insecurePlaintext`).
     */
    url: ldapUrl,
    /** Other servers of the same directory, tried in order when `url` cannot be reached; same scheme. */
    failoverUrls: z.array(ldapUrl).default([]),
    /** A read-only service account: it searches users and groups and reads `member`. */
    bindDn: nonBlank,
    bindPassword: secretRef(),
    /** Where users and groups are searched (subtree). */
    baseDn: nonBlank,
    /** Finds the account's entry; `{account}` is replaced by the account name, escaped per RFC 4515. */
    userFilter: z
      .string()
      .default(`(|(uid=${ACCOUNT_PLACEHOLDER})(sAMAccountName=${ACCOUNT_PLACEHOLDER}))`)
      .refine((f) => f.includes(ACCOUNT_PLACEHOLDER), `must contain ${ACCOUNT_PLACEHOLDER}`)
      .refine((f) => parsesAsFilter(f.replaceAll(ACCOUNT_PLACEHOLDER, 'x')), 'not a valid LDAP filter (RFC 4515)'),
    /** Which entries are groups, both when the configured names are looked up and when membership is walked. */
    groupFilter: z
      .string()
      .default('(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))')
      .refine(parsesAsFilter, 'not a valid LDAP filter (RFC 4515)'),
    /** The attribute the configured group names are matched against (one entry per name). */
    groupNameAttribute: attrName.default('cn'),
    /** The group attribute that lists member DNs: `member` (groupOfNames, AD), `uniqueMember`. */
    memberAttribute: attrName.default('member'),
    tls: ldapTls,
    /** Send the bind password and the queries over plain `ldap://` without StartTLS. Only on a trusted loopback. */
    insecurePlaintext: z.boolean().default(false),
    /** Per LDAP operation and per connection attempt. */
    timeout: durationSchema.default(5000).refine((ms) => ms > 0, 'must be more than 0'),
    /** How long one account's membership is reused; 0 asks the directory every time. */
    cacheTtl: durationBetween(0, 86_400_000).default(60_000),
  })
  .superRefine(checkEndpoint, whenValid('url', 'failoverUrls', 'insecurePlaintext'));

/** The host's own users and groups through NSS (`/etc/group`, sssd, winbind, LDAP via nslcd). */
export const unixDirectorySchema = z.strictObject({});

type LdapDirectory = z.output<typeof ldapDirectorySchema>;
type UnixDirectory = z.output<typeof unixDirectorySchema>;

/**
 * Exactly one of `ldap` and `unix`. Written as one mapping with two optional keys rather than a
 * union, so that a mistake inside `ldap` is reported at its own path, not as "matches no variant".
 */
export const scopeDirectorySchema = z
  .strictObject({ ldap: ldapDirectorySchema.optional(), unix: unixDirectorySchema.optional() })
  .superRefine((v, ctx) => {
    if ((v.ldap === undefined) === (v.unix === undefined)) ctx.addIssue({ code: 'custom', message: 'expected exactly one of: ldap, unix' });
  }, whenValid())
  .transform((v): { readonly ldap: LdapDirectory } | { readonly unix: UnixDirectory } => (v.ldap !== undefined ? { ldap: v.ldap } : { unix: v.unix ?? {} }));

const groupList = z.array(groupName).default([]);

/**
 * Which accounts' changes an agent forwards (the reference's PCNS inclusion and exclusion groups).
 * An account is in scope when it is, directly or through nested groups, a member of at least one
 * `include` group (or `include` is empty) and of no `exclude` group.
 */
export const scopeConfigSchema = z
  .strictObject({
    include: groupList,
    exclude: groupList,
    /** Where membership is read; needed as soon as either list names a group. */
    directory: scopeDirectorySchema.optional(),
  })
  .superRefine((v, ctx) => {
    for (const list of ['include', 'exclude'] as const) {
      const seen = new Set<string>();
      v[list].forEach((name, i) => {
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [list, i], message: `group "${name}" is listed twice` });
        seen.add(name);
      });
    }
    v.exclude.forEach((name, i) => {
      if (v.include.includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['exclude', i], message: `group "${name}" is in both include and exclude: no member of it could ever be in scope` });
      }
    });
    if (v.directory === undefined && v.include.length + v.exclude.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['directory'], message: 'groups are configured, so a directory (ldap or unix) to resolve them is needed' });
    }
  }, whenValid('include', 'exclude'));

export type ScopeConfigInput = z.input<typeof scopeConfigSchema>;
export type ScopeConfig = z.output<typeof scopeConfigSchema>;
export type ScopeDirectoryConfig = z.output<typeof scopeDirectorySchema>;
export type LdapDirectoryConfig = LdapDirectory;
export type UnixDirectoryConfig = UnixDirectory;
