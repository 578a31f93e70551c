import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KeyError } from '../core/errors.ts';
import { assertAbsent, PRIVATE_MODE, PUBLIC_MODE, readPrivateFile, readText, writeNewFile } from './files.ts';
import { CA_CERT, CA_DAYS, CA_KEY, checkDays } from './layout.ts';
import { certificatePem, commonNameOnly, generateSigningKeys, importSigningKey, privateKeyPem, randomSerial, SIGNING_ALGORITHM, validityPeriod, x509 } from './x509.ts';

/** A loaded certificate authority: what issuing needs, nothing it could leak by accident. */
export interface Ca {
  readonly dir: string;
  readonly certFile: string;
  readonly certPem: string;
  readonly certificate: x509.X509Certificate;
  /** Non-extractable: it signs, it cannot be written out again. */
  readonly signingKey: webcrypto.CryptoKey;
}

export interface CreateCaOptions {
  commonName?: string;
  validDays?: number;
}

/**
 * Creates a private CA in `dir`: `ca.crt` and `ca.key` (PKCS#8, mode 0600). It may sign end-entity
 * certificates only (path length 0), so a leaked server or agent key cannot mint further
 * certificates. Refuses when either file exists.
 */
export async function createCa(dir: string, options: CreateCaOptions = {}): Promise<Ca> {
  const days = checkDays(options.validDays ?? CA_DAYS);
  const certFile = join(dir, CA_CERT);
  const keyFile = join(dir, CA_KEY);
  await assertAbsent([certFile, keyFile]);
  const keys = await generateSigningKeys();
  // Host and date tell CAs apart in a trust store or an openssl dump, as during a CA rollover.
  const name = commonNameOnly(options.commonName ?? `pwsync CA ${hostname()} ${new Date().toISOString().slice(0, 10)}`);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    ...validityPeriod(days),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // The key first: a certificate without its key is harmless, a key without its certificate is not found.
  await writeNewFile(keyFile, await privateKeyPem(keys.privateKey), PRIVATE_MODE);
  await writeNewFile(certFile, certificatePem(certificate), PUBLIC_MODE);
  return loadCa(dir);
}

/**
 * Loads the CA in `dir`. The key file must not be readable by group or others, must be the key of
 * `ca.crt`, and `ca.crt` must be a CA certificate; each problem names its file.
 */
export async function loadCa(dir: string): Promise<Ca> {
  const certFile = join(dir, CA_CERT);
  const keyFile = join(dir, CA_KEY);
  const certPem = await readText(certFile, 'CA certificate');
  const keyPem = await readPrivateFile(keyFile, 'CA key');
  let nodeCert: X509Certificate;
  let certificate: x509.X509Certificate;
  try {
    nodeCert = new X509Certificate(certPem);
    certificate = new x509.X509Certificate(certPem);
  } catch (e) {
    throw new KeyError(`CA certificate file ${certFile} is not a PEM certificate`, { cause: e });
  }
  if (!nodeCert.ca) throw new KeyError(`CA certificate file ${certFile} is not a CA certificate (no basicConstraints CA:TRUE)`);
  let keyMatches: boolean;
  try {
    keyMatches = nodeCert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    // The parser's message could quote key material: keep only the fact.
    throw new KeyError(`CA key file ${keyFile} is not a PEM private key`);
  }
  if (!keyMatches) throw new KeyError(`CA key file ${keyFile} does not belong to ${certFile}`);
  let signingKey: webcrypto.CryptoKey;
  try {
    signingKey = await importSigningKey(keyPem);
  } catch {
    throw new KeyError(`CA key file ${keyFile} is not a PKCS#8 P-256 key`);
  }
  return { dir, certFile, certPem, certificate, signingKey };
}
