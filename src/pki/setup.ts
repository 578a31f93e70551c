import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, KeyError } from '../core/errors.ts';
import { defaultServerHosts, subjectAltNames } from './hosts.ts';
import { pathExists } from '../util/files.ts';
import { createCa, loadCa } from './ca.ts';
import { assertAbsent, errnoOf, PUBLIC_MODE, writeNewFile } from './files.ts';
import { certificateInfo, type CertificateInfo } from './info.ts';
import { issueAgentCertificate, issueServerCertificate, type IssuedAgent, type IssuedServer } from './issue.ts';
import { createJweKeyPair, loadJwePublicKey, type JweKeyFiles } from './jwe-key.ts';
import { agentDir, AGENTS_DIR, CA_CERT, CA_DAYS, CA_KEY, checkAgentName, checkDays, JWE_PRIVATE, JWE_PUBLIC, LEAF_DAYS, SERVER_CERT, SERVER_KEY } from './layout.ts';

export interface InitPkiOptions {
  hosts?: readonly string[];
  /** Lifetime of the server certificate. */
  validDays?: number;
  caDays?: number;
  caCommonName?: string;
}

export interface InitPkiResult {
  readonly caCertFile: string;
  readonly caKeyFile: string;
  readonly server: IssuedServer;
  readonly jwe: JweKeyFiles;
}

/**
 * Creates everything a server needs in `dir`: the CA, the server certificate and the JWE key pair.
 * Every file is checked for absence before the first is written, so a refusal leaves nothing behind.
 */
export async function initPki(dir: string, options: InitPkiOptions = {}): Promise<InitPkiResult> {
  await assertAbsent([CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, JWE_PRIVATE, JWE_PUBLIC].map((f) => join(dir, f)));
  // Input is checked before the CA exists too: a bad --host must not leave a CA that blocks the retry.
  subjectAltNames(options.hosts ?? defaultServerHosts());
  const caDays = checkDays(options.caDays ?? CA_DAYS, 'caDays');
  if (checkDays(options.validDays ?? LEAF_DAYS) > caDays) {
    throw new InvalidInputError(`the server certificate (${options.validDays ?? LEAF_DAYS} days) cannot outlive the CA (${caDays} days)`);
  }
  const ca = await createCa(dir, { ...(options.caCommonName !== undefined && { commonName: options.caCommonName }), ...(options.caDays !== undefined && { validDays: options.caDays }) });
  const server = await issueServerCertificate(ca, dir, { ...(options.hosts !== undefined && { hosts: options.hosts }), ...(options.validDays !== undefined && { validDays: options.validDays }) });
  const jwe = await createJweKeyPair(dir);
  return { caCertFile: ca.certFile, caKeyFile: join(dir, CA_KEY), server, jwe };
}

export interface AddAgentResult extends IssuedAgent {
  readonly outDir: string;
  /** The server's public JWE key, copied beside the certificate. */
  readonly serverKeyFile: string;
}

/**
 * Issues an agent's certificate with the CA in `pkiDir` into `outDir` (default
 * `<pkiDir>/agents/<name>`) and copies the server's public JWE key there: the folder is all an
 * agent needs. The public key is loaded first, so a file that holds the private key is never copied.
 */
export async function addAgent(pkiDir: string, name: string, options: { outDir?: string; validDays?: number } = {}): Promise<AddAgentResult> {
  checkAgentName(name);
  const outDir = options.outDir ?? agentDir(pkiDir, name);
  const ca = await loadCa(pkiDir);
  const source = join(pkiDir, JWE_PUBLIC);
  await loadJwePublicKey(source);
  const publicJwk = await readFile(source, 'utf8');
  const serverKeyFile = join(outDir, JWE_PUBLIC);
  const copyKey = !(await sameContent(serverKeyFile, publicJwk));
  if (copyKey) await assertAbsent([serverKeyFile]);
  const issued = await issueAgentCertificate(ca, outDir, name, options.validDays === undefined ? {} : { validDays: options.validDays });
  if (copyKey) await writeNewFile(serverKeyFile, publicJwk, PUBLIC_MODE);
  return { ...issued, outDir, serverKeyFile };
}

export interface CertificateEntry {
  readonly file: string;
  readonly info: CertificateInfo;
}

export interface PkiInventory {
  readonly dir: string;
  readonly ca: CertificateEntry | null;
  readonly server: CertificateEntry | null;
  /** The kid of `server-jwe.pub.json`, or null when there is none. */
  readonly jweKid: string | null;
  /** Agent certificates under `<dir>/agents/<name>/<name>.crt`, by name. */
  readonly agents: readonly CertificateEntry[];
}

/** What `pki show` prints: the certificates found in `dir`, read without the private keys. */
export async function inventory(dir: string): Promise<PkiInventory> {
  const agents: CertificateEntry[] = [];
  const agentsRoot = join(dir, AGENTS_DIR);
  if (await pathExists(agentsRoot)) {
    const names = (await readdir(agentsRoot, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    for (const name of names) {
      const entry = await readCertificate(join(agentsRoot, name, `${name}.crt`));
      if (entry) agents.push(entry);
    }
  }
  const jwePublic = join(dir, JWE_PUBLIC);
  return {
    dir,
    ca: await readCertificate(join(dir, CA_CERT)),
    server: await readCertificate(join(dir, SERVER_CERT)),
    jweKid: (await pathExists(jwePublic)) ? (await loadJwePublicKey(jwePublic)).kid : null,
    agents,
  };
}

async function readCertificate(file: string): Promise<CertificateEntry | null> {
  if (!(await pathExists(file))) return null;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new KeyError(`certificate file ${file} cannot be read (${errnoOf(e)})`, { cause: e });
  }
  try {
    return { file, info: certificateInfo(pem) };
  } catch (e) {
    throw new KeyError(`certificate file ${file} is not a PEM certificate`, { cause: e });
  }
}

async function sameContent(file: string, content: string): Promise<boolean> {
  if (!(await pathExists(file))) return false;
  return (await readFile(file, 'utf8')) === content;
}
