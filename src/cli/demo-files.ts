import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathExists } from '../util/files.ts';

const CONFIG = `# pwsync demo: a source directory (a CSV file) and two file targets.
# Change a password with:   ./bin/pwsync.js change alice --config demo/pwsync.yaml
dataDir: ./data

systems:
  # Where passwords are born. Accounts here project persons.
  - name: directory
    connector: file
    file: { path: ./directory.csv }
    source: { accountAttribute: login }
    import:
      anchor: id
      map: { login: login, mail: mail, givenName: given_name, surname: surname }

  # A web application's user table: joins by e-mail, stores argon2id hashes.
  - name: webapp
    connector: file
    file: { path: ./targets/webapp.csv, passwordColumn: password_hash }
    import:
      anchor: user_id
      map: { username: username, email: email }
    join:
      - { person: mail, account: email, match: caseInsensitive }
    password:
      sync: true
      hash: argon2id
      retry: { count: 10, interval: 60s }

  # A legacy system's tab-separated account file: joins by login, stores SHA-512-crypt.
  - name: legacy
    connector: file
    file: { path: ./targets/legacy.tsv, delimiter: "\\t", passwordColumn: passwd }
    import:
      anchor: uid
      map: { login: login, shell: shell }
    join:
      - { person: login, account: login, match: normalized }
    password:
      sync: true
      hash: sha512-crypt
`;

const DIRECTORY = `id,login,given_name,surname,mail,department
1001,alice,Alice,Andersson,alice@example.org,Finance
1002,bob,Bob,Berg,bob@example.org,Engineering
1003,carol,Carol,Chen,carol@example.org,Engineering
1004,dave,Dave,Dahl,dave@example.org,Helpdesk
1005,zoe,Zoë,Åström,zoe@example.org,Sales
`;

const WEBAPP = `user_id,username,email,password_hash,created
u-01,alice.a,Alice@Example.org,,2024-01-15
u-02,bob.b,BOB@example.org,,2024-02-01
u-03,carol.c,carol@example.org,,2024-03-12
u-04,zoe.a,zoe@example.org,,2025-06-30
u-99,"printer, 3rd floor",printer@example.org,,2023-11-02
`;

const LEGACY = ['uid\tlogin\tshell\tpasswd', '501\talice\t/bin/bash\t', '502\tBob\t/bin/bash\t', '503\tdave\t/bin/sh\t', '504\tZoe\t/bin/zsh\t', '900\tsvc-backup\t/usr/sbin/nologin\t', ''].join('\n');

/**
 * Writes the demo into `dir` (which may exist) and returns its configuration file. An existing
 * demo configuration is kept as it is, so a second run never resets what the user changed.
 */
export async function writeDemo(dir: string): Promise<string> {
  const configFile = resolve(dir, 'pwsync.yaml');
  if (await pathExists(configFile)) return configFile;
  await mkdir(join(dir, 'targets'), { recursive: true });
  await writeFile(join(dir, 'directory.csv'), DIRECTORY, { mode: 0o640 });
  await writeFile(join(dir, 'targets', 'webapp.csv'), WEBAPP, { mode: 0o640 });
  await writeFile(join(dir, 'targets', 'legacy.tsv'), LEGACY, { mode: 0o640 });
  // The configuration last: its presence means the demo is complete.
  await writeFile(configFile, CONFIG, { mode: 0o640 });
  return configFile;
}
