import { runConnectorConformance } from '../conformance.ts';
import { csvConnector, tempDir } from '../../../test/support/connectors/file.ts';

runConnectorConformance('file (csv)', async () => {
  const tmp = await tempDir();
  const { connector } = await csvConnector(tmp.dir, 'accounts.csv', 'id,login,password\r\nu1,alice,\r\nu2,bob,\r\n');
  // A file has no password policy: no refusedPassword, so the policy case is not registered.
  return { connector, existingAnchor: 'u2', unknownAnchor: 'u9', cleanup: () => tmp.remove() };
});

runConnectorConformance('file (tab-separated, latin1, BOM-less, login by verifyPassword)', async () => {
  const tmp = await tempDir();
  const { connector } = await csvConnector(tmp.dir, 'accounts.tsv', Buffer.from('uid\tname\tpw\nA\tMüller\t\nB\tÅse\t', 'latin1'), {
    anchor: 'uid',
    passwordColumn: 'pw',
    delimiter: '\t',
    encoding: 'latin1',
  });
  return {
    connector,
    existingAnchor: 'B',
    unknownAnchor: 'C',
    login: (anchor, secret) => connector.verifyPassword(anchor, secret),
    cleanup: () => tmp.remove(),
  };
});
