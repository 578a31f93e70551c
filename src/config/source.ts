import { readFile } from 'node:fs/promises';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { errnoText } from '../fields/errno.ts';
import { shownKey, type PathSegment, type PendingProblem, type Position, type ProblemPlacer } from './problems.ts';

/** A parsed configuration file: its YAML document, and where each of its nodes lies. */
export class SourceFile implements ProblemPlacer {
  #systemNames: ReadonlyMap<number, string> = new Map();

  private constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    readonly lineCounter: LineCounter,
  ) {}

  /**
   * Reads and parses `file` (an absolute path). On failure, returns the problems: an unreadable
   * file, or every YAML error (syntax, duplicate keys) with its line.
   */
  static async read(file: string): Promise<{ source: SourceFile; problems: PendingProblem[]; warnings: PendingProblem[] } | { problems: PendingProblem[] }> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      return { problems: [{ code: 'FILE_UNREADABLE', path: [], message: `cannot read configuration file ${file}: ${errnoText(e)}` }] };
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return { problems: [{ code: 'FILE_UNREADABLE', path: [], message: `configuration file ${file} is not valid UTF-8` }] };
    }
    const lineCounter = new LineCounter();
    // YAML 1.2 core schema: `yes` is a string, not true; duplicate keys are errors.
    const doc = parseDocument(text, { lineCounter, uniqueKeys: true, strict: true, prettyErrors: true, version: '1.2', schema: 'core', logLevel: 'error' });
    const source = new SourceFile(file, text, doc, lineCounter);
    const problems = source.#yamlProblems(doc.errors, 'error');
    if (problems.length === 0) problems.push(...source.#collectionKeys());
    const warnings = source.#yamlProblems(doc.warnings, 'warning');
    if (problems.length === 0 && (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null))) {
      problems.push({ code: 'INVALID_TYPE', path: [], message: `configuration file ${file} is empty`, line: 1, column: 1 });
    }
    return { source, problems, warnings };
  }

  /** The document as plain data, or a problem when aliases expand beyond reason. */
  toData(): { data: unknown } | { problem: PendingProblem } {
    try {
      return { data: this.doc.toJS({ maxAliasCount: 100 }) };
    } catch (e) {
      const message = e instanceof Error ? e.message : 'cannot convert the document';
      return { problem: { code: 'YAML_SYNTAX', path: [], message, line: 1, column: 1 } };
    }
  }

  /** Remembers system names (from `systems[N].name`) to show them in problem paths. */
  setSystemNames(data: unknown): void {
    const names = new Map<number, string>();
    const systems = typeof data === 'object' && data !== null && 'systems' in data ? data.systems : undefined;
    if (Array.isArray(systems)) {
      systems.forEach((system: unknown, i) => {
        const name = typeof system === 'object' && system !== null && 'name' in system ? system.name : undefined;
        if (typeof name === 'string' && name !== '' && name.length <= 64 && !/[\s()]/.test(name)) names.set(i, name);
      });
    }
    this.#systemNames = names;
  }

  systemName(index: number): string | undefined {
    return this.#systemNames.get(index);
  }

  /**
   * Where `path` lies: the key's node for `at: 'key'`, else the value's. A path that does not
   * exist in the file (a missing key) lands on the deepest mapping or sequence that does.
   */
  locate(path: readonly PathSegment[], at: 'key' | 'value'): Position | undefined {
    let node: unknown = this.doc.contents;
    let position = this.#position(node);
    for (const [i, segment] of path.entries()) {
      node = this.#deref(node);
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p) === String(segment));
        if (pair === undefined) break;
        if (i === path.length - 1 && at === 'key') return this.#position(pair.key) ?? position;
        next = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
      }
      const found = this.#position(next);
      if (found === undefined) break;
      position = found;
      node = next;
    }
    return position;
  }

  /**
   * The path of the innermost node at `offset`, for YAML errors: made of keys written before
   * `offset` only. After a syntax error the parser's reading of what follows is a guess, and a
   * value it took for a key (an inline password) is no path.
   */
  pathAt(offset: number): PathSegment[] {
    const path: PathSegment[] = [];
    let node: unknown = this.doc.contents;
    for (let depth = 0; depth < 256; depth++) {
      node = this.#deref(node);
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => contains(p.key, offset) || contains(p.value, offset));
        const key = pair === undefined ? undefined : keyName(pair);
        if (pair === undefined || key === undefined || startOf(pair.key) > offset) break;
        path.push(key);
        if (!contains(pair.value, offset)) break;
        next = pair.value;
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => contains(item, offset));
        if (index < 0) break;
        path.push(index);
        next = node.items[index];
      } else {
        break;
      }
      node = next;
    }
    return path;
  }

  #deref(node: unknown): unknown {
    // An alias's content is written at its anchor; that is where a problem in it can be fixed.
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  #position(node: unknown): Position | undefined {
    const range = (node as Partial<Node> | null | undefined)?.range;
    if (range == null) return undefined;
    const { line, col } = this.lineCounter.linePos(range[0]);
    return { line, column: col };
  }

  #yamlProblems(errors: readonly { code: string; message: string; pos: [number, number] }[], kind: 'error' | 'warning'): PendingProblem[] {
    const seenLines = new Set<number>();
    const problems: PendingProblem[] = [];
    for (const error of errors) {
      // After a syntax error the parser reads what follows as best it can: every further error
      // (and every path in it) is a consequence, made of values taken for keys. The first one says it.
      if (problems.some((p) => p.code === 'YAML_SYNTAX')) break;
      const { line, col } = this.lineCounter.linePos(error.pos[0]);
      // After a syntax error the parser often reports each following token; the first per line says it.
      if (seenLines.has(line)) continue;
      seenLines.add(line);
      const path = this.pathAt(error.pos[0]);
      const summary = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      let message = summary.charAt(0).toLowerCase() + summary.slice(1);
      let code: PendingProblem['code'] = kind === 'error' ? 'YAML_SYNTAX' : 'YAML_WARNING';
      if (error.code === 'DUPLICATE_KEY') {
        code = 'DUPLICATE_KEY';
        const key = path.at(-1);
        const first = this.locate(path, 'key');
        message = `duplicate key${key === undefined ? '' : ` ${shownKey(String(key))}`}${first && first.line !== line ? ` (first at line ${first.line})` : ''}`;
      } else if (kind === 'error' && problems.length === 0 && /\$\{/.test(this.#lineText(line))) {
        message += '; a ${NAME} reference inside { } or [ ] must be quoted: "${NAME}"';
      }
      problems.push({ code, path, message, line, column: col });
    }
    return problems;
  }

  /** A key written as a mapping or a list (`? {…}`): JavaScript would turn it into its text, a value. */
  #collectionKeys(): PendingProblem[] {
    const problems: PendingProblem[] = [];
    const seen = new Set<unknown>();
    const visit = (node: unknown, path: PathSegment[], depth: number): void => {
      if (depth > 256 || seen.has(node)) return;
      seen.add(node);
      if (isMap(node)) {
        for (const pair of node.items) {
          const key = keyName(pair);
          if (key === undefined) {
            const position = this.#position(pair.key) ?? this.#position(node);
            problems.push({ code: 'YAML_SYNTAX', path, message: 'a key must be a name, not a mapping or a list', line: position?.line ?? 1, column: position?.column ?? 1 });
          } else {
            visit(pair.value, [...path, key], depth + 1);
          }
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => visit(item, [...path, i], depth + 1));
      }
    };
    visit(this.doc.contents, [], 0);
    return problems;
  }

  #lineText(line: number): string {
    return this.text.split('\n')[line - 1] ?? '';
  }
}

function keyText(pair: Pair): string {
  return keyName(pair) ?? '';
}

/** A pair's key as text when it is a scalar; undefined for a mapping or list used as a key (never its content). */
function keyName(pair: Pair): string | undefined {
  const key = pair.key;
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? '' : undefined;
}

function startOf(node: unknown): number {
  const range = (node as Partial<Node> | null | undefined)?.range;
  return range == null ? Number.POSITIVE_INFINITY : range[0];
}

function contains(node: unknown, offset: number): boolean {
  const range = (node as Partial<Node> | null | undefined)?.range;
  return range != null && offset >= range[0] && offset < Math.max(range[2], range[0] + 1);
}
