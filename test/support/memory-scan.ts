import { open, readFile } from 'node:fs/promises';

/** A place in a process's memory where a needle was found. */
export interface MemoryHit {
  readonly needle: string;
  readonly address: string;
  readonly mapping: string;
  /** The bytes around the hit, for finding out who left it (printable ASCII, the rest as '.'). */
  readonly around: string;
}

interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly line: string;
}

const CHUNK = 8 * 1024 * 1024;

/**
 * Searches every writable mapping of process `pid` (`/proc/PID/maps`, read through `/proc/PID/mem`)
 * for each needle's bytes: the heap of malloc and V8, stacks, Buffers' backing stores, freed memory
 * not yet reused. A heap snapshot cannot see a Buffer's bytes, nor freed memory; this can. Reading
 * another process's memory needs the right to trace it (root, or its parent under Yama's scope 1).
 */
export async function scanProcessMemory(pid: number, needles: Readonly<Record<string, Buffer>>): Promise<{ hits: MemoryHit[]; bytes: number }> {
  const mappings = parseMaps(await readFile(`/proc/${pid}/maps`, 'utf8'));
  const longest = Math.max(...Object.values(needles).map((n) => n.length));
  const hits: MemoryHit[] = [];
  let bytes = 0;
  const mem = await open(`/proc/${pid}/mem`, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK + longest);
    for (const m of mappings) {
      let carry = 0;
      for (let at = m.start; at < m.end; at += CHUNK) {
        const want = Math.min(CHUNK, m.end - at);
        let got: number;
        try {
          got = (await mem.read(buffer, carry, want, at)).bytesRead;
        } catch {
          break; // a mapping that went away or cannot be read (a guard page)
        }
        bytes += got;
        const view = buffer.subarray(0, carry + got);
        for (const [name, needle] of Object.entries(needles)) {
          for (let i = view.indexOf(needle); i !== -1; i = view.indexOf(needle, i + 1)) {
            const around = view.subarray(Math.max(0, i - 64), i + needle.length + 64).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
            hits.push({ needle: name, address: `0x${(at - carry + i).toString(16)}`, mapping: m.line, around });
          }
        }
        // Keep the tail, so that a needle across two chunks is found (once: it cannot fit in the tail alone).
        carry = Math.min(longest - 1, view.length);
        view.copy(buffer, 0, view.length - carry);
        if (got < want) break;
      }
    }
  } finally {
    await mem.close();
  }
  return { hits, bytes };
}

function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m === null) continue;
    const [, from = '', to = '', perms = ''] = m;
    if (perms[0] !== 'r' || perms[1] !== 'w') continue;
    if (/\[(vvar|vsyscall|vvar_vclock)\]/.test(line)) continue;
    out.push({ start: parseInt(from, 16), end: parseInt(to, 16), line: line.trim() });
  }
  return out;
}
