import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Secret } from '../../core/secret.ts';
import { runConnectorConformance } from '../conformance.ts';
import { HASH_POLICY_DN, startOpenLdapWorld, type OpenLdapWorld } from '../../../test/support/connectors/ldap.ts';

let world: OpenLdapWorld;
before(async () => (world = await startOpenLdapWorld()));
after(() => world.stop());

type Settings = (w: OpenLdapWorld) => { ldap?: Record<string, unknown>; system?: Record<string, unknown>; user?: Record<string, string>; refused?: string };

function fixture(settings: Settings) {
  return async () => {
    const { ldap = {}, system = {}, user = {}, refused } = settings(world);
    const uid = `conf-${randomBytes(4).toString('hex')}`;
    const { dn, uuid } = await world.addUser(uid, 'Initial-Passw0rd', user);
    const connector = world.connector(ldap, system);
    const insecure = () => world.connector({ ...ldap, url: world.slapd.url, insecurePlaintext: true }, system);
    return {
      connector,
      existingAnchor: uuid,
      unknownAnchor: '00000000-0000-4000-8000-000000000000',
      ...(refused === undefined ? {} : { refusedPassword: refused }),
      // Log in as the account by a bind of its own, not through the connector under test.
      login: async (_anchor: string, secret: Secret) => secret.use((clear) => world.binds(dn, clear.toString('utf8'))),
      insecure,
      cleanup: () => world.admin((client) => client.del(dn)),
    };
  };
}

runConnectorConformance('ldap (OpenLDAP, StartTLS, Password Modify)', fixture(() => ({ refused: 'short' })));
runConnectorConformance('ldap (OpenLDAP, ldaps, userPassword hashed here)', fixture((w) => ({
  ldap: { url: w.slapd.ldapsUrl, passwordMethod: 'hash' },
  system: { password: { sync: true, hash: '{SSHA512}' } },
  // The server cannot check a hashed value's quality: this account's policy accepts what it cannot
  // check, so there is no refused password here (the policy is the source's, or pwsync's later).
  user: { pwdPolicySubentry: HASH_POLICY_DN },
})));
