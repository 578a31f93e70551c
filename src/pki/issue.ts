import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import { pathExists } from '../util/files.ts';
import type { Ca } from './ca.ts';
import { assertAbsent, PRIVATE_MODE, PUBLIC_MODE, writeNewFile } from './files.ts';
import { defaultServerHosts, subjectAltNames } from './hosts.ts';
import { CA_CERT, checkAgentName, checkDays, LEAF_DAYS, SERVER_CERT, SERVER_KEY } from './layout.ts';
import { certificatePem, commonNameOnly, generateSigningKeys, privateKeyPem, randomSerial, SIGNING_ALGORITHM, validityPeriod, x509 } from './x509.ts';

export interface IssueServerOptions {
  /** DNS names and IP addresses agents use to reach the server; default {@link defaultServerHosts}. */
  hosts?: readonly string[];
  validDays?: number;
}

export interface IssuedServer {
  readonly certFile: string;
  readonly keyFile: string;
  /** The names in the certificate, as written (IPv6 normalised). */
  readonly hosts: readonly string[];
}

export interface IssuedAgent {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA certificate beside them, for the agent to pin the server's CA. */
  readonly caFile: string;
}

/** Issues `server.crt` and `server.key` (0600) in `dir`, for TLS server authentication only. */
export async function issueServerCertificate(ca: Ca, dir: string, options: IssueServerOptions = {}): Promise<IssuedServer> {
  const names = subjectAltNames(options.hosts ?? defaultServerHosts());
  const certFile = join(dir, SERVER_CERT);
  const keyFile = join(dir, SERVER_KEY);
  await assertAbsent([certFile, keyFile]);
  // The CN is for people reading the certificate (clients match the SAN): the most telling name.
  const first = names.find((n) => n.type === 'dns' && n.value !== 'localhost') ?? names[0];
  const pem = await issue(ca, keyFile, {
    commonName: first?.value ?? 'pwsync server',
    validDays: options.validDays,
    usage: x509.ExtendedKeyUsage.serverAuth,
    extra: [new x509.SubjectAlternativeNameExtension(names, false)],
  });
  await writeNewFile(certFile, pem, PUBLIC_MODE);
  return { certFile, keyFile, hosts: names.map((n) => n.value) };
}

/**
 * Issues `<name>.crt` and `<name>.key` (0600) in `outDir` for an agent: subject CN=<name>, TLS
 * client authentication only, and copies the CA certificate there as `ca.crt`. A `ca.crt` already
 * there is kept when it is this CA's (several agents may share a folder) and refused otherwise.
 */
export async function issueAgentCertificate(ca: Ca, outDir: string, name: string, options: { validDays?: number } = {}): Promise<IssuedAgent> {
  checkAgentName(name);
  const certFile = join(outDir, `${name}.crt`);
  const keyFile = join(outDir, `${name}.key`);
  const caFile = join(outDir, CA_CERT);
  await assertAbsent([certFile, keyFile]);
  const copyCa = !(await sameCaCertificate(caFile, ca));
  if (copyCa) await assertAbsent([caFile]);
  const pem = await issue(ca, keyFile, {
    commonName: name,
    validDays: options.validDays,
    usage: x509.ExtendedKeyUsage.clientAuth,
    extra: [],
  });
  await writeNewFile(certFile, pem, PUBLIC_MODE);
  if (copyCa) await writeNewFile(caFile, ca.certPem, PUBLIC_MODE);
  return { name, certFile, keyFile, caFile };
}

interface LeafSpec {
  commonName: string;
  validDays: number | undefined;
  usage: x509.ExtendedKeyUsage;
  extra: x509.Extension[];
}

/** Makes a key pair, writes its private key to `keyFile` and returns the signed certificate's PEM. */
async function issue(ca: Ca, keyFile: string, spec: LeafSpec): Promise<string> {
  const days = checkDays(spec.validDays ?? LEAF_DAYS);
  const period = validityPeriod(days);
  if (period.notAfter > ca.certificate.notAfter) {
    throw new InvalidInputError(`a certificate valid for ${days} days would outlive the CA in ${ca.certFile} (valid until ${ca.certificate.notAfter.toISOString()}); choose fewer days`);
  }
  const keys = await generateSigningKeys();
  const caKeyId = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: commonNameOnly(spec.commonName),
    issuer: ca.certificate.subjectName,
    ...period,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDHE key exchange with an ECDSA key needs signatures only.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([spec.usage], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      caKeyId === undefined ? await x509.AuthorityKeyIdentifierExtension.create(await ca.certificate.publicKey.export()) : new x509.AuthorityKeyIdentifierExtension(caKeyId),
      ...spec.extra,
    ],
  });
  await writeNewFile(keyFile, await privateKeyPem(keys.privateKey), PRIVATE_MODE);
  return certificatePem(certificate);
}

async function sameCaCertificate(file: string, ca: Ca): Promise<boolean> {
  if (!(await pathExists(file))) return false;
  try {
    return new x509.X509Certificate(await readFile(file, 'utf8')).equal(ca.certificate);
  } catch {
    return false;
  }
}
