import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where tests make files that must be root's alone (what root runs, loads or installs): not under
 * /tmp, which everyone can write, so a file there is never root's alone (src/util/root-only.ts).
 */
export const ROOT_ONLY_TEST_DIR = '/var/lib/pwsync-tests';

/** A new directory of mode 0755 in ROOT_ONLY_TEST_DIR (itself 0755, made when missing). The caller removes it. */
export async function makeRootOnlyDir(prefix: string): Promise<string> {
  await mkdir(ROOT_ONLY_TEST_DIR, { recursive: true, mode: 0o755 });
  await chmod(ROOT_ONLY_TEST_DIR, 0o755);
  const dir = await mkdtemp(join(ROOT_ONLY_TEST_DIR, prefix));
  await chmod(dir, 0o755);
  return dir;
}
