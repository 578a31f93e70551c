import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../../config/index.ts';
import { ConfigError } from '../../core/errors.ts';

/** A registered agent as the intake knows it: by the SHA-256 fingerprints of its certificates. */
export interface RegisteredAgent {
  readonly name: string;
  /** The source systems whose `source.agents` list this agent. */
  readonly sources: ReadonlySet<string>;
}

/** Fingerprint (as Node's `fingerprint256`: upper-case hex pairs joined by colons) → agent. */
export type AgentRegistry = ReadonlyMap<string, RegisteredAgent>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads every registered agent's certificate file. A missing or unreadable file, a file without a
 * certificate, or one certificate registered to two agents stops the server at start, naming the
 * file: an agent that cannot be recognised must not be found out at 2 a.m. by its changes piling
 * up. An expired certificate is left out with a warning (during a renewal the file holds the old
 * and the new one).
 */
export async function loadAgentRegistry(config: Pick<Config, 'agents' | 'systems'>, now: number): Promise<{ registry: AgentRegistry; warnings: string[] }> {
  const registry = new Map<string, RegisteredAgent>();
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const agent of config.agents) {
    const sources = new Set(config.systems.filter((s) => s.source?.agents.includes(agent.name)).map((s) => s.name));
    let pem: string;
    try {
      pem = await readFile(agent.certificate, 'utf8');
    } catch (e) {
      problems.push(`agent "${agent.name}": cannot read its certificate ${agent.certificate}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      continue;
    }
    const blocks = pem.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) problems.push(`agent "${agent.name}": ${agent.certificate} holds no PEM certificate`);
    for (const block of blocks) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(block);
      } catch (e) {
        problems.push(`agent "${agent.name}": ${agent.certificate} holds a certificate that cannot be parsed: ${(e as Error).message}`);
        continue;
      }
      if (Date.parse(cert.validTo) < now) {
        // TLS refuses it anyway; one agent's expired certificate must not stop the intake for all.
        warnings.push(`agent "${agent.name}": the certificate in ${agent.certificate} expired on ${new Date(cert.validTo).toISOString()}; that agent cannot connect until it has a new one`);
        continue;
      }
      const other = registry.get(cert.fingerprint256);
      if (other !== undefined && other.name !== agent.name) {
        problems.push(`agent "${agent.name}": the certificate in ${agent.certificate} is already registered to agent "${other.name}"`);
        continue;
      }
      registry.set(cert.fingerprint256, { name: agent.name, sources });
    }
  }
  if (problems.length > 0) throw new ConfigError(`the registered agents cannot be used:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return { registry, warnings };
}
