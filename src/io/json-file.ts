/**
 * Bounded JSON: one linear scan of a JSON text that bounds its nesting depth, its number of
 * values and the members of any one object BEFORE JSON.parse allocates (JSON.parse of a 50 MB
 * text of nested brackets costs 4.9 GB and 47 s), and refuses a top-level name given twice
 * (JSON.parse keeps the last silently). Used by the safetensors header and by JSON files the
 * library reads (a model directory's config.json).
 */
import { readFileSync, statSync } from 'node:fs';

/** What a JSON text may hold. */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects (the outermost is depth 1). */
  maxDepth: number;
  /** Most values, counted as arrays and objects plus the commas between values. */
  maxValues: number;
  /** Most members of any one object. */
  maxMembers: number;
}

const [QUOTE, BACKSLASH, COMMA, COLON] = [0x22, 0x5c, 0x2c, 0x3a];
const [LBRACE, RBRACE, LBRACKET, RBRACKET] = [0x7b, 0x7d, 0x5b, 0x5d];

/** A value as JSON for a message, at most 60 characters (deep or huge values never throw). */
export function preview(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = Array.isArray(v) ? '[...]' : typeof v === 'object' ? '{...}' : String(v);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A message of at most `max` characters. */
export function shorten(text: string, max = 160): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/**
 * Scan a JSON text outside its strings and check it against `limits`; every top-level name
 * (decoded) is passed to `onName` in order, and a name given twice is a problem. Malformed
 * JSON is not a problem here: JSON.parse describes it afterwards.
 * @returns the first problem, as a phrase for a message, or null.
 */
export function scanJson(
  text: string,
  limits: JsonLimits,
  onName?: (name: string) => string | null,
): string | null {
  let depth = 0;
  let values = 1;
  const members = new Int32Array(limits.maxDepth + 2); // per open container
  let keyStart = -1; // start of the last string that began at depth 1
  const names = new Set<string>();
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
      if (depth === 1) keyStart = start;
    } else if (c === LBRACE || c === LBRACKET) {
      if (++depth > limits.maxDepth)
        return `nests arrays/objects more than ${limits.maxDepth} deep (at character ${i})`;
      members[depth] = 0;
      if (++values > limits.maxValues) return `holds more than ${limits.maxValues} JSON values`;
    } else if (c === RBRACE || c === RBRACKET) {
      if (depth > 0) depth--;
    } else if (c === COMMA) {
      if (++values > limits.maxValues) return `holds more than ${limits.maxValues} JSON values`;
    } else if (c === COLON && depth > 0) {
      if (++members[depth] > limits.maxMembers)
        return `holds more than ${limits.maxMembers} members in one object`;
      if (depth === 1 && keyStart >= 0) {
        const name = decodeName(text.slice(keyStart, i));
        keyStart = -1;
        if (name === undefined) continue;
        if (names.has(name)) return `names ${preview(name)} twice`;
        names.add(name);
        const problem = onName?.(name);
        if (problem) return problem;
      }
    }
  }
  return null;
}

/** A key's JSON text (with trailing whitespace) decoded, or undefined when malformed. */
function decodeName(key: string): string | undefined {
  try {
    const name: unknown = JSON.parse(key);
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Read and parse a JSON file within bounds: at most `maxBytes`, strict UTF-8 (no silent
 * U+FFFD), `limits` checked by scanJson before JSON.parse.
 * @param what how the message names the file's role, e.g. "config.json".
 * @throws Error `${path}: <problem>` for a missing, unreadable, too large, non-UTF-8,
 *   over-limit or malformed file.
 */
export function readJsonFile(path: string, limits: JsonLimits, maxBytes: number): unknown {
  let bytes: Buffer;
  try {
    const size = statSync(path).size;
    if (size > maxBytes) throw new Error(`is ${size} bytes, more than the ${maxBytes} allowed`);
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error(`${path}: not valid UTF-8 text`);
  }
  const problem = scanJson(text, limits);
  if (problem) throw new Error(`${path}: ${problem}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${shorten((e as Error).message)}`, { cause: e });
  }
}
