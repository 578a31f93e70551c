import { X509Certificate } from 'node:crypto';
import { InvalidInputError } from '../core/errors.ts';

/** What an operator needs to recognise a certificate and see when it runs out. */
export interface CertificateInfo {
  /** The subject's common name, or "" when it has none. */
  readonly commonName: string;
  readonly issuerCommonName: string;
  /** SHA-256 of the DER certificate: lower-case hex without colons, as pinned in agent targets. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
}

const DAY_MS = 86_400_000;

export function certificateInfo(pem: string): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw new InvalidInputError('not a PEM or DER certificate', { cause: e });
  }
  return {
    commonName: commonName(cert.subject),
    issuerCommonName: commonName(cert.issuer),
    fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    // Node 20 gives OpenSSL's "Mar  1 12:00:00 2035 GMT", which Date parses.
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCa: cert.ca,
  };
}

/** Whole days until `notAfter`, negative once expired. */
export function daysLeft(info: CertificateInfo, now: number = Date.now()): number {
  return Math.floor((info.notAfter.getTime() - now) / DAY_MS);
}

function commonName(dn: string): string {
  return /^CN=(.*)$/m.exec(dn)?.[1] ?? '';
}
