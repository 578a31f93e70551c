/**
 * A second process for the cross-process concurrency test: `node --import tsx this-file DIR FILE
 * PREFIX ANCHOR…`. It builds a file connector, says `ready`, waits for a line on stdin, then sets
 * the password of each anchor to `PREFIX-ANCHOR` and says `done`.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createFileConnector } from '../../../src/connectors/file/index.ts';
import { fileSystem, setTo } from './file.ts';

const [dir, file, prefix, ...anchors] = process.argv.slice(2);
if (dir === undefined || file === undefined || prefix === undefined) throw new Error('usage: DIR FILE PREFIX ANCHOR…');
const connector = createFileConnector(fileSystem(file), { system: 'csv', baseDir: dir });
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await once(lines, 'line');
lines.close();
for (const anchor of anchors) await setTo(connector, anchor, `${prefix}-${anchor}`);
process.stdout.write('done\n');
