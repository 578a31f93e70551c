import { chmod, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where tests make files that must be root's alone (what root runs, loads or installs): not under
 * /tmp, which everyone can write, so a file there is never root's alone (src/util/root-only.ts).
 * It exists only while a test uses it: the last test to finish removes it.
 */
export const ROOT_ONLY_TEST_DIR = '/var/lib/pwsync-tests';

/** A new directory of mode 0755 in ROOT_ONLY_TEST_DIR (itself 0755, made when missing). Remove it with removeRootOnlyDir. */
export async function makeRootOnlyDir(prefix: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(ROOT_ONLY_TEST_DIR, { recursive: true, mode: 0o755 });
    await chmod(ROOT_ONLY_TEST_DIR, 0o755);
    try {
      const dir = await mkdtemp(join(ROOT_ONLY_TEST_DIR, prefix));
      await chmod(dir, 0o755);
      return dir;
    } catch (e) {
      // Another test file removed the parent between the two calls: make it again.
      if (attempt >= 5 || !(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
    }
  }
}

/** Removes a directory makeRootOnlyDir made, and the parent when no other test has one there. */
export async function removeRootOnlyDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await rmdir(ROOT_ONLY_TEST_DIR).catch(() => undefined);
}
