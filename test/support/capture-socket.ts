import { createConnection } from 'node:net';

/** Writes raw bytes to the socket and collects every answer line until it closes or `lines` arrived. */
export function rawCapture(socket: string, chunks: readonly Buffer[], lines: number, end = false): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let text = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      text += d;
      const got = text.split('\n').filter((l) => l !== '');
      if (got.length >= lines) {
        conn.end();
        resolve(got);
      }
    });
    conn.on('close', () => resolve(text.split('\n').filter((l) => l !== '')));
    conn.on('error', reject);
    conn.on('connect', () => {
      void (async () => {
        for (const c of chunks) {
          conn.write(c);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (end) conn.end();
      })();
    });
  });
}
