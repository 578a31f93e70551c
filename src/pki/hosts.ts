import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { InvalidInputError } from '../core/errors.ts';
import type { x509 } from './x509.ts';

/** Names an agent on this machine or beside it may use to reach the server. */
export function defaultServerHosts(): string[] {
  const own = hostname().toLowerCase();
  const hosts = ['localhost', '127.0.0.1', '::1'];
  // A host name outside DNS syntax (some containers have odd ones) is left out rather than refused.
  if (isDnsName(own) && !hosts.includes(own)) hosts.push(own);
  return hosts;
}

/**
 * The subject alternative names for `hosts`: IPv4 and IPv6 literals as IP entries (a TLS client
 * matches an IP only against those), everything else as DNS names. Duplicates are dropped.
 */
export function subjectAltNames(hosts: readonly string[]): x509.JsonGeneralName[] {
  if (hosts.length === 0) throw new InvalidInputError('hosts: name at least one host name or IP address for the server certificate');
  const seen = new Set<string>();
  const names: x509.JsonGeneralName[] = [];
  for (const host of hosts) {
    const name = generalName(host);
    const key = `${name.type}:${name.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    names.push(name);
  }
  return names;
}

function generalName(host: string): x509.JsonGeneralName {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.includes('%')) throw new InvalidInputError(`host "${host}": an IPv6 zone id cannot be part of a certificate`);
  const family = isIP(bare);
  if (family === 4) return { type: 'ip', value: bare };
  if (family === 6) return { type: 'ip', value: withoutDottedTail(bare.toLowerCase()) };
  const dns = host.toLowerCase().replace(/\.$/, '');
  if (!isDnsName(dns)) throw new InvalidInputError(`host "${host}" is neither an IP address nor a DNS name`);
  return { type: 'dns', value: dns };
}

/** A DNS name, optionally with one leading wildcard label; labels of up to 63 characters. */
function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((label, i) => (i === 0 && label === '*' && labels.length > 2) || /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label));
}

/** `::ffff:1.2.3.4` as `::ffff:102:304`: the encoder under @peculiar/x509 reads hex groups only. */
function withoutDottedTail(ip: string): string {
  const m = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return ip;
  const [a, b, c, d] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  return `${m[1] ?? ''}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}
