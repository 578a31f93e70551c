/** `ENOENT (no such file or directory)`: the code and the system's words, never a stack or content. */
export function errnoText(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  const known: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a component of the path is not a directory',
    ELOOP: 'too many symbolic links',
  };
  if (code === undefined) return 'unknown error';
  return `${known[code] ?? 'error'} (${code})`;
}
