// A process of its own that sets one password through the ldap connector (Password Modify) and then
// stays alive, for a test to scan its memory (src/connectors/ldap/connector.test.ts). The password
// arrives in hex on standard input, so that its bytes exist only where the connector put them.
import { systemSchema } from '../../../src/config/schema.ts';
import { createLdapConnector } from '../../../src/connectors/ldap/index.ts';
import { Secret } from '../../../src/core/secret.ts';
import { withSecretContext } from '../../../src/fields/secret-ref.ts';

interface Job {
  readonly url: string;
  readonly caFile: string;
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly baseDn: string;
  readonly anchor: string;
}

const job = JSON.parse(process.env['PWSYNC_FIXTURE_JOB'] ?? '{}') as Job;
const parsed = withSecretContext({ env: { LDAP_PW: job.bindPassword }, baseDir: '/', created: [] }, () =>
  systemSchema.parse({
    name: 'directory',
    connector: 'ldap',
    ldap: { url: job.url, bindDn: job.bindDn, bindPassword: '${LDAP_PW}', baseDns: [job.baseDn], tls: { ca: job.caFile } },
    import: { anchor: 'entryUUID', map: { login: 'uid' } },
    password: { sync: true },
  }),
);
if (parsed.connector !== 'ldap') throw new Error('not an ldap system');
const connector = createLdapConnector(parsed, { system: 'directory', baseDir: '/' });

let hex = '';
process.stdin.setEncoding('latin1');
for await (const chunk of process.stdin) hex += String(chunk);
const bytes = Buffer.alloc(hex.trim().length / 2);
bytes.write(hex.trim(), 'hex');
const secret = Secret.adopt(bytes);
try {
  await connector.setPassword(job.anchor, secret, {});
} finally {
  secret.dispose();
}
// The connection stays open, as in a server between two deliveries.
process.stdout.write('set\n');
setInterval(() => undefined, 60_000);
