import { z } from 'zod';
import { whenValid } from '../../fields/refine-when.ts';
import { dialectByte } from './csv.ts';

/** The `file:` block of a system with `connector: file`. */
export const fileConfigSchema = z.strictObject({
  /** The file, relative to the configuration file's directory. */
  path: z.string().min(1),
  /** Only delimited text for now; fixed-width, attribute-value pairs, LDIF and DSML come later. */
  format: z.literal('csv').default('csv'),
  /** One character; `\t` for tab-separated files. */
  delimiter: z.string().length(1).default(','),
  quote: z.string().length(1).default('"'),
  encoding: z.enum(['utf8', 'latin1']).default('utf8'),
  /** The column the password hash is written to; without it the system cannot take passwords (6922). */
  passwordColumn: z.string().min(1).optional(),
}).superRefine((v, ctx) => {
  // The scanner works on bytes: delimiter and quote must each be one byte in the file's encoding.
  const bytes: number[] = [];
  for (const key of ['delimiter', 'quote'] as const) {
    try {
      bytes.push(dialectByte(v[key], v.encoding, key));
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: [key], message: e instanceof Error ? e.message : String(e) });
    }
  }
  if (bytes.length === 2 && bytes[0] === bytes[1]) {
    ctx.addIssue({ code: 'custom', path: ['quote'], message: 'the quote must differ from the delimiter' });
  }
}, whenValid('delimiter', 'quote', 'encoding'));

export type FileConfig = z.infer<typeof fileConfigSchema>;
