import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ConfigIssue, ProblemCode } from '../../src/config/problems.ts';

/** A throwaway directory for configuration tests; `cleanup` removes it. */
export interface TempDir {
  readonly dir: string;
  /** Writes `lines` (joined by newlines) to `name` and returns its absolute path. */
  write(name: string, lines: string | readonly string[], mode?: number): Promise<string>;
  cleanup(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-config-'));
  return {
    dir,
    async write(name, lines, mode) {
      const file = join(dir, name);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, typeof lines === 'string' ? lines : `${lines.join('\n')}\n`);
      if (mode !== undefined) await chmod(file, mode);
      return file;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `CODE path @line` for each issue: what tests compare, never message text. */
export function summary(issues: readonly ConfigIssue[]): string[] {
  return issues.map((i) => `${i.code} ${i.path} @${i.line ?? '-'}`);
}

export function codes(issues: readonly ConfigIssue[]): ProblemCode[] {
  return issues.map((i) => i.code);
}

/** A source system and a target that joins it: the smallest configuration that syncs. */
export const HR_AND_APPS: readonly string[] = [
  'systems:', //                                                  1
  '  - name: hr', //                                              2
  '    connector: file', //                                       3
  '    file: { path: hr.csv }', //                                4
  '    source: { accountAttribute: login }', //                   5
  '    import: { anchor: id, map: { login: login } }', //         6
  '  - name: apps', //                                            7
  '    connector: file', //                                       8
  '    file: { path: apps.csv, passwordColumn: pw }', //          9
  '    import: { anchor: uid, map: { login: user } }', //         10
  '    join: [{ person: login, account: login }]', //             11
  '    password: { sync: true, hash: bcrypt }', //                12
];
