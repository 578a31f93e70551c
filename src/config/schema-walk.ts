import { z } from 'zod';
import type { PathSegment } from './problems.ts';

/**
 * Walks a zod schema alongside the data it is about to validate, for the two things the loader
 * must know before validation: which values are secrets (left as written for `secretRef()`), and
 * which keys a mapping allows (to suggest one for a mistyped key).
 */

type Schema = z.core.$ZodType;

/** Whether the schema (or a schema it was cloned from) is marked `secret` in its metadata. */
export function isSecretSchema(schema: Schema): boolean {
  return z.globalRegistry.get(schema)?.['secret'] === true;
}

/** Peels wrappers that do not change where a value sits: optional, default, pipe, lazy, …. */
function unwrap(schema: Schema): Schema {
  let current = schema;
  for (let depth = 0; depth < 64; depth++) {
    if (isSecretSchema(current)) return current;
    const def = (current as z.core.$ZodTypes)._zod.def;
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        current = def.innerType;
        break;
      case 'pipe':
        current = def.in;
        break;
      case 'lazy':
        current = def.getter();
        break;
      default:
        return current;
    }
  }
  return current;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The schemas that may apply to `data`: one, or the candidate branches of a union. */
function alternatives(schema: Schema, data: unknown): Schema[] {
  const s = unwrap(schema);
  const def = (s as z.core.$ZodTypes)._zod.def;
  if (def.type === 'intersection') return [...alternatives(def.left, data), ...alternatives(def.right, data)];
  if (def.type !== 'union') return [s];
  const discriminator = 'discriminator' in def && typeof def.discriminator === 'string' ? def.discriminator : undefined;
  const matching = def.options.filter((option) => {
    if (discriminator === undefined || !isRecord(data)) return true;
    const values = option._zod.propValues?.[discriminator];
    return values === undefined || values.has(data[discriminator] as z.core.util.Primitive);
  });
  // No match (a discriminator still written as a reference, or wrong): every branch may apply.
  return (matching.length > 0 ? matching : def.options).flatMap((option) => alternatives(option, data));
}

/** The schemas of the value under `key` of `data`, for each schema `data` may be validated by. */
function children(schema: Schema, data: unknown, key: PathSegment): Schema[] {
  const out: Schema[] = [];
  for (const s of alternatives(schema, data)) {
    const def = (s as z.core.$ZodTypes)._zod.def;
    switch (def.type) {
      case 'object': {
        const child = typeof key === 'string' && Object.hasOwn(def.shape, key) ? def.shape[key] : def.catchall;
        if (child) out.push(child);
        break;
      }
      case 'record':
        out.push(def.valueType);
        break;
      case 'array':
        if (typeof key === 'number') out.push(def.element);
        break;
      case 'tuple': {
        const item = typeof key === 'number' ? (def.items[key] ?? def.rest) : undefined;
        if (item) out.push(item);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Paths (as JSON of their segments) of the values in `data` that a secret schema will validate. */
export function secretPaths(schema: Schema, data: unknown): Set<string> {
  const found = new Set<string>();
  const visit = (schemas: readonly Schema[], value: unknown, path: PathSegment[]): void => {
    if (schemas.length === 0) return;
    if (schemas.some((s) => isSecretSchema(unwrap(s)))) {
      found.add(JSON.stringify(path));
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(schemas.flatMap((s) => children(s, value, i)), item, [...path, i]));
    } else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) visit(schemas.flatMap((s) => children(s, value, key)), item, [...path, key]);
    }
  };
  visit([schema], data, []);
  return found;
}

/** The keys the mapping at `path` allows, or none where it is not a fixed-shape mapping. */
export function allowedKeys(schema: Schema, data: unknown, path: readonly PathSegment[]): string[] {
  let schemas: Schema[] = [schema];
  let value = data;
  for (const segment of path) {
    schemas = schemas.flatMap((s) => children(s, value, segment));
    value = Array.isArray(value) || isRecord(value) ? (value as Record<PathSegment, unknown>)[segment] : undefined;
  }
  const keys = new Set<string>();
  for (const s of schemas.flatMap((candidate) => alternatives(candidate, value))) {
    const def = (s as z.core.$ZodTypes)._zod.def;
    if (def.type === 'object') for (const key of Object.keys(def.shape)) keys.add(key);
  }
  return [...keys];
}
