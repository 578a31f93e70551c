/*
 * Just enough LDIF for the 389 Directory Server harness (ds389.ts): editing the stopped server's
 * dse.ldif as text, and reading a test's entries so they can be added over LDAP.
 */

/** Joins LDIF continuation lines. */
export function unfold(ldif: string): string {
  return ldif.replace(/\r?\n /g, '');
}

/** Replaces (or adds) attributes of one entry of an unfolded dse.ldif. */
export function setAttributes(ldif: string, dn: string, attributes: Readonly<Record<string, string>>): string {
  const blocks = ldif.split('\n\n');
  const index = blocks.findIndex((b) => b.trimStart().split('\n', 1)[0]?.toLowerCase() === `dn: ${dn}`.toLowerCase());
  const block = blocks[index];
  if (block === undefined) throw new Error(`dse.ldif has no entry ${dn}`);
  const names = new Set(Object.keys(attributes).map((a) => a.toLowerCase()));
  const kept = block.split('\n').filter((line) => !names.has(line.slice(0, Math.max(0, line.indexOf(':'))).toLowerCase()));
  blocks[index] = [...kept.filter((l) => l !== ''), ...Object.entries(attributes).map(([a, v]) => `${a}: ${v}`)].join('\n');
  return blocks.join('\n\n');
}

export interface LdifEntry {
  readonly dn: string;
  readonly attributes: Record<string, string[]>;
}

/** Content records of LDIF text (no changetype); `::` values are decoded as UTF-8. */
export function parseLdif(text: string): LdifEntry[] {
  const entries: LdifEntry[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n').filter((l) => !l.startsWith('#'));
  for (const block of unfold(lines.join('\n')).split(/\n[ \t]*\n/)) {
    let dn: string | undefined;
    const attributes: Record<string, string[]> = {};
    for (const line of block.split('\n')) {
      if (line.trim() === '') continue;
      const m = /^([A-Za-z][\w;.-]*)(::?)[ ]*(.*)$/.exec(line);
      if (!m) throw new Error(`not an LDIF line: ${line}`);
      const [, name = '', separator, raw = ''] = m;
      const value = separator === '::' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
      const lower = name.toLowerCase();
      if (lower === 'version' && dn === undefined) continue;
      if (lower === 'changetype') throw new Error(`only LDIF content records are supported, not changetype (${dn ?? '?'})`);
      if (lower === 'dn') dn = value;
      else if (dn === undefined) throw new Error(`LDIF record does not start with dn: ${line}`);
      else (attributes[name] ??= []).push(value);
    }
    if (dn !== undefined) entries.push({ dn, attributes });
  }
  return entries;
}
