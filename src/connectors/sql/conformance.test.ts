import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import type { Secret } from '../../core/secret.ts';
import { runConnectorConformance, type ConformanceFixture } from '../conformance.ts';
import type { Dialect } from './named-params.ts';
import { SET_PLAINTEXT, startSqlWorld, type SqlWorld } from '../../../test/support/connectors/sql.ts';

/** The connector conformance suite against each database, with the hash computed here and with the database hashing. */
export function conformance(dialect: Dialect): void {
  let world: SqlWorld;
  before(async () => (world = await startSqlWorld(dialect)));
  after(() => world.stop());

  const rows = (sql: Record<string, unknown>, refused?: string) => async (): Promise<ConformanceFixture> => {
    const anchor = await world.addUser(`conf-${randomBytes(4).toString('hex')}`);
    return {
      connector: world.connector(sql),
      existingAnchor: anchor,
      unknownAnchor: '2147483000',
      ...(refused === undefined ? {} : { refusedPassword: refused }),
      insecure: () => world.connector({ ...sql, tls: { mode: 'disable' } }),
      cleanup: async () => {
        await world.exec(dialect === 'postgres' ? 'DELETE FROM app_users WHERE id = $1' : 'DELETE FROM app_users WHERE id = ?', [Number(anchor)]);
      },
    };
  };
  runConnectorConformance(`sql (${dialect}, rows, bcrypt hashed here)`, rows({}));
  runConnectorConformance(`sql (${dialect}, rows, the database hashes the clear password)`, rows({ setPassword: { statement: SET_PLAINTEXT, plaintext: true } }, 'short'));
  runConnectorConformance(`sql (${dialect}, login roles)`, async () => {
    const role = await world.addRole(`conf_${randomBytes(4).toString('hex')}`, 'Initial-Role-Passw0rd');
    const sql = { accounts: 'roles', query: undefined, setPassword: undefined, verifyQuery: undefined };
    return {
      connector: world.connector(sql, { import: { anchor: 'role' } }),
      existingAnchor: role,
      unknownAnchor: 'no_such_role_anywhere',
      // Logged in as the role directly, not through the connector under test.
      login: (anchor: string, secret: Secret) => secret.use((clear) => world.roleLogsIn(anchor, clear.toString('utf8'))),
      insecure: () => world.connector({ ...sql, tls: { mode: 'disable' } }, { import: { anchor: 'role' } }),
      cleanup: async () => {
        await world.exec(dialect === 'postgres' ? `DROP ROLE "${role}"` : `DROP USER '${role.split('@')[0] ?? ''}'@'%'`);
      },
    };
  });
}

conformance('postgres');
conformance('mariadb');
