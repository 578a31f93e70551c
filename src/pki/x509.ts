// tsyringe, under @peculiar/x509, needs the Reflect metadata API before the library loads.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };

/** ECDSA over P-256 with SHA-256: small keys and signatures, supported by every TLS stack in use. */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Certificates start a few minutes in the past, so a peer whose clock is a little behind accepts them. */
const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** A new P-256 key pair; extractable only so that the private key can be written once as PKCS#8. */
export async function generateSigningKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

/** Imports a PKCS#8 PEM private key for signing only; it cannot be exported again. */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, false, ['sign']);
}

/**
 * A random positive 16-byte serial (RFC 5280 allows up to 20 octets). The top bit is cleared so
 * the integer is positive without a padding byte, the next one set so it is never shorter.
 */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

export function validityPeriod(validDays: number, now: number = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + validDays * DAY_MS) };
}

/** A one-attribute distinguished name as structured data, so that no character needs escaping. */
export function commonNameOnly(cn: string): x509.JsonName {
  return [{ CN: [cn] }];
}

export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}
