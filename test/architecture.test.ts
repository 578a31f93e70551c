import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { EVENT_CODES } from '../src/core/events.ts';

/*
 * The architecture as a test: the layers drawn in docs/architecture.md ("Layers") and the rules
 * the house has learnt, checked on every import of src/. Folders are found, not listed: a new
 * folder under src/ (or under any folder) is held by the cycle rule at once, and by the layer rule
 * as soon as the picture places it (until then this test says where to place it).
 */

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const EVENTS_FILE = join(SRC, 'core', 'events.ts');

/** Test code inside src/ (unit tests and their fixtures) may import anything: it is not a layer. */
const isTestCode = (file: string): boolean => /\.(test|fixture)\.ts$/.test(file);

interface Module {
  /** Path relative to src/, with `/`. */
  readonly path: string;
  /** Paths relative to src/ of the modules of ours it imports (statically or dynamically). */
  readonly imports: readonly string[];
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function readModules(): Module[] {
  return tsFiles(SRC)
    .filter((file) => !isTestCode(file))
    .map((file) => {
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const imports = info.importedFiles
        .map((f) => f.fileName)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => resolve(dirname(file), spec))
        .filter((target) => target.startsWith(SRC + sep))
        .map((target) => relative(SRC, target).split(sep).join('/'));
      return { path: relative(SRC, file).split(sep).join('/'), imports };
    });
}

const MODULES = readModules();

/** The unit a module belongs to among the children of `folder` ('' is src/ itself): a subfolder, or a file of its own. */
function unitUnder(folder: string, path: string): string | undefined {
  const prefix = folder === '' ? '' : `${folder}/`;
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf('/');
  return slash === -1 ? rest : rest.slice(0, slash);
}

/** Top-level unit: a folder directly under src/, or a file there (main.ts). */
const top = (path: string): string => unitUnder('', path) ?? path;

function edgesBetweenUnits(folder: string): Map<string, Map<string, string>> {
  // unit → imported unit → one example "file → file", for messages.
  const edges = new Map<string, Map<string, string>>();
  for (const m of MODULES) {
    const from = unitUnder(folder, m.path);
    if (from === undefined || !isFolderUnit(folder, from)) continue;
    for (const target of m.imports) {
      const to = unitUnder(folder, target);
      if (to === undefined || to === from || !isFolderUnit(folder, to)) continue;
      const out = edges.get(from) ?? new Map<string, string>();
      if (!out.has(to)) out.set(to, `${m.path} → ${target}`);
      edges.set(from, out);
    }
  }
  return edges;
}

/** Whether `unit` under `folder` is a folder (files at a folder's top belong to the folder itself). */
function isFolderUnit(folder: string, unit: string): boolean {
  const prefix = folder === '' ? '' : `${folder}/`;
  return MODULES.some((m) => m.path.startsWith(`${prefix}${unit}/`)) || (folder === '' && unit === 'main.ts');
}

/** Strongly connected components with more than one member (Tarjan): each is an import cycle. */
function cycles(edges: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, indices.get(w) ?? 0));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!indices.has(v)) visit(v);
  return found;
}

/** Every folder of src/ that has subfolders, src/ itself included (''). */
function foldersWithSubfolders(): string[] {
  const folders = new Set<string>(['']);
  for (const m of MODULES) {
    const parts = m.path.split('/');
    for (let i = 1; i < parts.length - 1; i++) folders.add(parts.slice(0, i).join('/'));
  }
  return [...folders].sort();
}

/** The layer table of docs/architecture.md: a fenced block under "## Layers", one `N  a, b, c` line per layer. */
function documentedLayers(): Map<string, number> {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const section = /^## Layers\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1];
  assert.ok(section !== undefined, 'docs/architecture.md has a "## Layers" section');
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block !== undefined, 'the "Layers" section draws the layers in a fenced block');
  const layers = new Map<string, number>();
  for (const line of block.split('\n')) {
    const m = /^\s*(\d+)\s+([a-z0-9.,\s-]+?)(?:\s{2,}.*)?$/.exec(line);
    if (m === null) continue;
    for (const name of (m[2] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) layers.set(name, Number(m[1]));
  }
  assert.ok(layers.size > 0, 'the layer block names folders');
  return layers;
}

/** The imports from `from` (a top-level unit) into any of `into`, as "file → file" lines. */
function importsInto(from: string, into: readonly string[]): string[] {
  return MODULES.filter((m) => top(m.path) === from).flatMap((m) => m.imports.filter((t) => into.includes(top(t)) && top(t) !== from).map((t) => `${m.path} → ${t}`));
}

/**
 * The `.replace`/`.replaceAll` calls in `text` whose replacement is neither a function nor a
 * string literal without `$`, as "file:line: call". A string replacement interprets `$&`, `` $` ``,
 * `$'` and `$$`: with data in it (an account name, a quote character) the result is spliced from
 * the input, which is how an account named `` x$` `` broke the scope filter (issue 16). A literal
 * pattern like `'$1'` is refused too: a function says what it does and cannot drift into data.
 */
function stringReplacements(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && ['replace', 'replaceAll'].includes(node.expression.name.text) && node.arguments.length === 2) {
      const replacement = node.arguments[1];
      const fine =
        replacement !== undefined &&
        (ts.isArrowFunction(replacement) || ts.isFunctionExpression(replacement) || ((ts.isStringLiteral(replacement) || ts.isNoSubstitutionTemplateLiteral(replacement)) && !replacement.text.includes('$')));
      if (!fine) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        found.push(`${file}:${line + 1}: ${node.getText(source).slice(0, 120)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

void describe('architecture', () => {
  void test('the files found are the real tree (a guard for this test itself)', () => {
    for (const known of ['core/events.ts', 'core/errors.ts', 'main.ts', 'sync/deliver.ts']) {
      assert.ok(MODULES.some((m) => m.path === known), `${known} is read`);
    }
    assert.ok(MODULES.find((m) => m.path === 'sync/deliver.ts')?.imports.includes('core/errors.ts'), 'imports are resolved');
  });

  void test('no folder imports another that imports it back, at any depth', () => {
    const found = foldersWithSubfolders().flatMap((folder) => {
      const edges = edgesBetweenUnits(folder);
      return cycles(edges).map((c) => {
        const where = folder === '' ? 'src/' : `src/${folder}/`;
        const examples = c.flatMap((a) => c.filter((b) => edges.get(a)?.has(b)).map((b) => `    ${edges.get(a)?.get(b) ?? ''}`));
        return `in ${where}: ${c.join(' ⇄ ')}\n${examples.join('\n')}`;
      });
    });
    assert.deepEqual(found, [], `import cycles between folders:\n${found.join('\n')}`);
  });

  void test('core imports nothing of ours', () => {
    assert.deepEqual(MODULES.filter((m) => top(m.path) === 'core').flatMap((m) => m.imports.filter((t) => top(t) !== 'core').map((t) => `${m.path} → ${t}`)), []);
  });

  void test('no connector imports the store, the engine, the server or the configuration', () => {
    assert.deepEqual(importsInto('connectors', ['store', 'sync', 'server', 'config', 'agent', 'cli', 'main.ts']), []);
  });

  void test('the store imports no connector (and nothing of the engine, the server or the agent)', () => {
    assert.deepEqual(importsInto('store', ['connectors', 'sync', 'server', 'agent', 'cli', 'main.ts']), []);
  });

  void test('the agent imports nothing of the server: not its store, engine or intake', () => {
    assert.deepEqual(importsInto('agent', ['store', 'sync', 'server', 'connectors', 'cli', 'main.ts']), []);
  });

  void test('only the CLI imports the composition root (main.ts): server and agent are handed what they need', () => {
    const importers = MODULES.filter((m) => m.imports.includes('main.ts') && top(m.path) !== 'cli').map((m) => m.path);
    assert.deepEqual(importers, []);
  });

  void test('every folder under src/ imports only from layers below its own, as docs/architecture.md draws them', () => {
    const layers = documentedLayers();
    const units = [...new Set(MODULES.map((m) => top(m.path)))].sort();
    const unplaced = units.filter((u) => !layers.has(u));
    assert.deepEqual(unplaced, [], `place these in the "Layers" block of docs/architecture.md: ${unplaced.join(', ')}`);
    const stale = [...layers.keys()].filter((name) => !units.includes(name));
    assert.deepEqual(stale, [], `the "Layers" block names folders that are not in src/: ${stale.join(', ')}`);
    const wrong = MODULES.flatMap((m) => {
      const from = top(m.path);
      const own = layers.get(from) ?? -1;
      return m.imports
        .filter((t) => top(t) !== from && (layers.get(top(t)) ?? Infinity) >= own)
        .map((t) => `${m.path} (layer ${own}) → ${t} (layer ${layers.get(top(t)) ?? '?'})`);
    });
    assert.deepEqual(wrong, [], `imports that do not go down a layer:\n${wrong.join('\n')}`);
  });

  void test('no event-code number outside the events table: code writes EVENT.NAME', () => {
    const codes = new Set<number>(EVENT_CODES);
    const files = ['src', 'test', 'bench'].flatMap((d) => tsFiles(join(ROOT, d))).filter((f) => f !== EVENTS_FILE);
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isNumericLiteral(node) && /^\d+$/.test(node.text) && codes.has(Number(node.text))) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${relative(ROOT, file)}:${line + 1}: ${node.text}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    assert.deepEqual(found, [], `write these as EVENT.<NAME> (src/core/events.ts):\n${found.join('\n')}`);
  });
  void test('every replace/replaceAll in src/ replaces with a function or a literal without "$"', () => {
    const found = tsFiles(SRC)
      .filter((file) => !isTestCode(file))
      .flatMap((file) => stringReplacements(relative(ROOT, file), readFileSync(file, 'utf8')));
    assert.deepEqual(found, [], `pass a function as the replacement (s.replaceAll(p, () => value)):\n${found.join('\n')}`);
  });

  void test('the replacement check finds data and patterns, and passes functions and plain literals', () => {
    const text = [
      "const a = filter.replaceAll('{account}', escape(account));",
      "const b = text.replace(/x/g, '$1');",
      'const c = text.replace(q, q + q);',
      "const d = text.replaceAll('{account}', () => escape(account));",
      "const e = text.replace(/[-:]/g, '');",
      'const f = keys.replace(owner, id, {}, attributes);',
      'const g = text.replace(/x/, function (m) { return m; });',
      'const h = text.replace(/x/, `${value}`);',
    ].join('\n');
    assert.deepEqual(
      stringReplacements('x.ts', text).map((f) => f.split(': ')[0]),
      ['x.ts:1', 'x.ts:2', 'x.ts:3', 'x.ts:8'],
    );
  });
});
