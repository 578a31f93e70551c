import { access } from 'node:fs/promises';

/** Whether anything exists at `path` (a file, a directory, a dangling link does not count). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
