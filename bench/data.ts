/**
 * Generated, deterministic test data for the benchmarks: a directory of people (the source) and
 * target account files that join it by e-mail address, compared case-insensitively.
 */
import { open } from 'node:fs/promises';

const GIVEN = ['Alice', 'Bob', 'Carol', 'Dave', 'Erik', 'Frida', 'Göran', 'Hanna', 'Ingrid', 'Jürgen', 'Karin', 'Lars', 'Maja', 'Nils', 'Åsa', 'Zoë', 'Björn', 'Çağla', 'Mei', 'Ravi'];
const SURNAMES = ['Andersson', 'Berg', 'Chen', 'Dahl', 'Ek', 'Fors', 'Gustafsson', 'Holm', 'Isaksson', 'Jansson', 'Åström', 'Öberg', 'Müller', 'Nguyen', 'Okafor', 'Patel', 'Quist', 'Rossi', 'Svensson', 'Tanaka'];
const DEPARTMENTS = ['Finance', 'Engineering', 'Helpdesk', 'Sales', 'Legal', 'Research', 'Operations'];

export interface GeneratedPerson {
  readonly id: string;
  readonly login: string;
  readonly given: string;
  readonly surname: string;
  /** The directory's address, lower case. */
  readonly mail: string;
  readonly department: string;
}

/** Person `i`: names drawn from `random`, login and mail unique by `i`. */
export function personAt(i: number, random: () => number): GeneratedPerson {
  const given = pick(GIVEN, random);
  const surname = pick(SURNAMES, random);
  const login = `${ascii(given)}.${ascii(surname)}.${i}`.toLowerCase();
  return { id: String(100_000 + i), login, given, surname, mail: `${login}@example.test`, department: pick(DEPARTMENTS, random) };
}

/** The same address as another system would spell it: often with capitals, sometimes all upper case. */
export function respell(mail: string, random: () => number): string {
  const r = random();
  if (r < 0.2) return mail.toUpperCase();
  if (r < 0.6) return mail.replace(/(^|[.@])([a-z])/g, (_, sep: string, c: string) => sep + c.toUpperCase());
  return mail;
}

function pick<T>(list: readonly T[], random: () => number): T {
  const v = list[Math.floor(random() * list.length)];
  if (v === undefined) throw new Error('empty list');
  return v;
}

function ascii(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/ı/g, 'i');
}

/** One CSV field, quoted when it holds the delimiter, a quote or a line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Writes a CSV file from a row generator, a few thousand lines per write, so that even 100,000
 * rows never sit in memory at once.
 */
export async function writeCsv(path: string, header: readonly string[], rows: Iterable<readonly string[]>): Promise<number> {
  const fh = await open(path, 'w', 0o640);
  let count = 0;
  try {
    let chunk: string[] = [header.map(csvField).join(',')];
    for (const row of rows) {
      chunk.push(row.map(csvField).join(','));
      count++;
      if (chunk.length >= 5000) {
        await fh.write(chunk.join('\n') + '\n');
        chunk = [];
      }
    }
    if (chunk.length > 0) await fh.write(chunk.join('\n') + '\n');
  } finally {
    await fh.close();
  }
  return count;
}

export const PEOPLE_HEADER = ['id', 'login', 'given_name', 'surname', 'mail', 'department'] as const;
export const ACCOUNTS_HEADER = ['user_id', 'username', 'email', 'password_hash', 'created'] as const;

export function personRow(p: GeneratedPerson): string[] {
  return [p.id, p.login, p.given, p.surname, p.mail, p.department];
}

/** A target account row; `hash` is the password column's initial content. */
export function accountRow(anchor: string, username: string, email: string, hash: string, random: () => number): string[] {
  const day = 1 + Math.floor(random() * 28);
  return [anchor, username, email, hash, `2025-${String(1 + Math.floor(random() * 12)).padStart(2, '0')}-${String(day).padStart(2, '0')}`];
}
