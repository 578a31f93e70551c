import type { Command } from 'commander';
import { join, relative, resolve } from 'node:path';
import { loadConfig } from '../../config/index.ts';
import { ConfigError, InvalidInputError } from '../../core/errors.ts';
import { daysLeft } from '../../pki/info.ts';
import { SERVER_CERT, SERVER_KEY } from '../../pki/layout.ts';
import type { CertificateEntry } from '../../pki/index.ts';
import { configPath } from '../options.ts';
import { printJson, printTable, say } from '../output.ts';

/**
 * The certificate code (and its X.509 library) is loaded only when a pki command runs: every other
 * command, a capture hook above all, starts without it.
 */
const pkiModule = () => import('../../pki/index.ts');

/** Certificates closer than this to their end are flagged by `pki show`. */
const WARN_DAYS = 30;

interface DirOption {
  dir?: string;
}

export function registerPki(program: Command): void {
  const pki = program.command('pki').description('the private CA, certificates and JWE key for mutual TLS between agents and the server');
  const dirHelp = 'the PKI directory (default: <dataDir>/pki from the configuration)';

  pki
    .command('init')
    .description('create the CA, the server certificate and the server\'s JWE key pair; refuses to overwrite anything')
    .option('--dir <dir>', dirHelp)
    .option('--host <name...>', 'DNS names and IP addresses agents use to reach the server (default: localhost, 127.0.0.1, ::1 and this host\'s name)')
    .option('--days <n>', 'days the server certificate is valid (default: 825)')
    .option('--ca-days <n>', 'days the CA is valid (default: 3652)')
    .action(async (opts: DirOption & { host?: string[]; days?: string; caDays?: string }) => {
      const dir = await pkiDir(program, opts.dir);
      const hosts = opts.host?.flatMap((h) => h.split(',')).filter((h) => h !== '');
      const { initPki } = await pkiModule();
      const result = await initPki(dir, {
        ...(hosts !== undefined && { hosts }),
        ...(opts.days !== undefined && { validDays: parseDays(opts.days, '--days') }),
        ...(opts.caDays !== undefined && { caDays: parseDays(opts.caDays, '--ca-days') }),
      });
      say(`PKI created in ${dir}:`);
      say(`  ${result.caCertFile}  CA certificate (agents pin it; the server checks agents with it)`);
      say(`  ${result.caKeyFile}  CA private key, mode 0600: back it up, keep it off other machines`);
      say(`  ${result.server.certFile}  server certificate for ${result.server.hosts.join(', ')}`);
      say(`  ${result.server.keyFile}  server private key, mode 0600`);
      say(`  ${result.jwe.privateFile}  server JWE private key (kid ${result.jwe.kid}), mode 0600`);
      say(`  ${result.jwe.publicFile}  server JWE public key, for agents`);
      say(`next: pwsync pki agent <name>${opts.dir === undefined ? '' : ` --dir ${opts.dir}`}`);
    });

  pki
    .command('server')
    .description('issue a new server certificate with the existing CA (after removing server.crt and server.key deliberately)')
    .option('--dir <dir>', dirHelp)
    .option('--host <name...>', 'DNS names and IP addresses agents use to reach the server (default: localhost, 127.0.0.1, ::1 and this host\'s name)')
    .option('--days <n>', 'days the certificate is valid (default: 825)')
    .action(async (opts: DirOption & { host?: string[]; days?: string }) => {
      const dir = await pkiDir(program, opts.dir);
      const hosts = opts.host?.flatMap((h) => h.split(',')).filter((h) => h !== '');
      const { issueServerCertificate, loadCa } = await pkiModule();
      const issued = await issueServerCertificate(await loadCa(dir), dir, {
        ...(hosts !== undefined && { hosts }),
        ...(opts.days !== undefined && { validDays: parseDays(opts.days, '--days') }),
      });
      say(`  ${issued.certFile}  server certificate for ${issued.hosts.join(', ')}`);
      say(`  ${issued.keyFile}  server private key, mode 0600`);
      say('restart the server to use it');
    });

  pki
    .command('agent')
    .description('issue a client certificate for an agent, with the CA certificate and the server\'s public JWE key beside it')
    .argument('<name>', 'the agent\'s name: lower-case letters, digits, "-" and "."; it becomes the certificate\'s CN')
    .option('--dir <dir>', dirHelp)
    .option('--out <dir>', 'where to write the agent\'s files (default: <pki dir>/agents/<name>)')
    .option('--days <n>', 'days the certificate is valid (default: 825)')
    .action(async (name: string, opts: DirOption & { out?: string; days?: string }) => {
      const dir = await pkiDir(program, opts.dir);
      const { addAgent } = await pkiModule();
      const result = await addAgent(dir, name, {
        ...(opts.out !== undefined && { outDir: resolve(opts.out) }),
        ...(opts.days !== undefined && { validDays: parseDays(opts.days, '--days') }),
      });
      say(`agent ${name}: copy these files to the agent's host (the key stays mode 0600):`);
      for (const file of [result.certFile, result.keyFile, result.caFile, result.serverKeyFile]) say(`  ${file}`);
      say('on the agent:');
      say(`  pwsync agent target add <server-name> --url https://HOST:PORT --ca ${result.caFile} --cert ${result.certFile} --key ${result.keyFile} --server-key ${result.serverKeyFile}`);
      say('on the server, register it in the configuration and list it in its source system\'s source.agents:');
      say(`  agents: [{ name: ${name}, certificate: ${result.certFile} }]`);
    });

  pki
    .command('show')
    .description('list the CA, server and agent certificates with their fingerprints and expiry')
    .option('--dir <dir>', dirHelp)
    .option('--json', 'print as JSON')
    .action(async (opts: DirOption & { json?: boolean }) => {
      const dir = await pkiDir(program, opts.dir);
      const { inventory } = await pkiModule();
      const inv = await inventory(dir);
      const now = Date.now();
      const rows = [
        ...(inv.ca ? [describe('ca', inv.ca, now, 'create a new PKI with "pwsync pki init --dir <new dir>" and re-issue the server and agent certificates from it')] : []),
        ...(inv.server ? [describe('server', inv.server, now, `remove ${SERVER_CERT} and ${SERVER_KEY} in ${dir}, then run "pwsync pki server"`)] : []),
        ...inv.agents.map((a) => describe('agent', a, now, `issue a new certificate with "pwsync pki agent ${a.info.commonName} --out <new dir>" and add it to the agent's entry in the server configuration`)),
      ];
      if (opts.json === true) {
        printJson({ dir, jweKid: inv.jweKid, certificates: rows });
        return;
      }
      if (rows.length === 0) {
        say(`no certificates in ${dir}; create them with "pwsync pki init"`);
        return;
      }
      printTable(
        ['ROLE', 'NAME', 'SHA-256 FINGERPRINT', 'EXPIRES', 'DAYS LEFT', 'FILE'],
        rows.map((r) => [r.role, r.name, r.fingerprint, r.notAfter.slice(0, 10), String(r.daysLeft), relative(dir, r.file) || r.file]),
      );
      say(`JWE key: ${inv.jweKid === null ? 'none' : `kid ${inv.jweKid}`}`);
      if (inv.ca !== null && inv.agents.length === 0) say(`no agents yet; issue one with "pwsync pki agent <name>"`);
      for (const r of rows) if (r.warning !== undefined) say(`warning: ${r.role} ${r.name}: ${r.warning}`);
      if (inv.ca === null && rows.length > 0) say(`warning: no CA certificate in ${dir}`);
    });
}

interface ShownCertificate {
  role: 'ca' | 'server' | 'agent';
  name: string;
  fingerprint: string;
  notAfter: string;
  daysLeft: number;
  file: string;
  warning?: string;
}

function describe(role: ShownCertificate['role'], entry: CertificateEntry, now: number, renew: string): ShownCertificate {
  const left = daysLeft(entry.info, now);
  const shown: ShownCertificate = { role, name: entry.info.commonName, fingerprint: entry.info.fingerprint, notAfter: entry.info.notAfter.toISOString(), daysLeft: left, file: entry.file };
  if (left < 0) shown.warning = `expired on ${shown.notAfter}; ${renew}`;
  else if (left < WARN_DAYS) shown.warning = `expires in ${left} day(s); ${renew}`;
  return shown;
}

/**
 * The PKI directory: --dir when given (the configuration is then not needed, so a PKI can be made
 * before there is one), else `<dataDir>/pki` of the configuration.
 */
async function pkiDir(program: Command, dir: string | undefined): Promise<string> {
  if (dir !== undefined) return resolve(dir);
  try {
    const config = await loadConfig(configPath(program.opts<{ config?: string }>().config));
    return join(config.dataDir, 'pki');
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${e.message}\n(or name the PKI directory with --dir)`, e.problems, { cause: e });
    throw e;
  }
}

function parseDays(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > 36_500) throw new InvalidInputError(`${option} must be a whole number of days from 1 to 36500, not "${value}"`);
  return n;
}
