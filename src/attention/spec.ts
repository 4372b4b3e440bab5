/**
 * `NAME[:key=value,...]` specs, the one syntax that selects a registered variant
 * (`--attention local:window=128`, `--position t5:buckets=32`, and the same strings in a
 * model's config.json): parsing with defaults, range checks, and the canonical form.
 */

/** A parameter of a variant: integers, numbers or booleans, with a default and a range. */
export interface VariantParam {
  readonly name: string;
  readonly type: 'int' | 'number' | 'bool';
  readonly default: number | boolean;
  /** Inclusive lower bound (numbers). */
  readonly min?: number;
  readonly doc: string;
}

export type VariantParams = Readonly<Record<string, number | boolean>>;

/** What a registry entry must have for its specs to be parsed. */
export interface SpecEntry {
  readonly name: string;
  readonly params: readonly VariantParam[];
}

/** A parsed spec: a registered name and every parameter (defaults filled in). */
export interface Spec {
  readonly name: string;
  readonly params: VariantParams;
}

/**
 * Parse `NAME[:key=value,...]` (or a spec object) against `entries`.
 * @param what the option's name for messages ('attention', 'position').
 * @throws Error naming an unknown variant (listing the known ones), an unknown parameter
 *   (listing the variant's), or a value of the wrong type or out of range.
 */
export function parseSpec(
  what: string,
  entries: ReadonlyMap<string, SpecEntry>,
  spec: string | Spec,
): Spec {
  let name: string;
  const given: Record<string, unknown> = {};
  if (typeof spec === 'string') {
    const colon = spec.indexOf(':');
    name = (colon < 0 ? spec : spec.slice(0, colon)).trim();
    const rest = colon < 0 ? '' : spec.slice(colon + 1);
    for (const kv of rest.split(',').filter((s) => s.trim() !== '')) {
      const eq = kv.indexOf('=');
      if (eq < 0) throw new Error(`${what} '${spec}': expected key=value, got '${kv}'`);
      given[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
  } else if (spec && typeof spec === 'object' && typeof spec.name === 'string') {
    name = spec.name;
    Object.assign(given, spec.params ?? {});
  } else {
    throw new Error(
      `${what}: expected a string such as 'NAME:key=value', got ${JSON.stringify(spec)}`,
    );
  }
  const v = entries.get(name);
  if (!v)
    throw new Error(
      `${what}: unknown variant '${name}' (known: ${[...entries.keys()].join(', ')})`,
    );
  for (const key of Object.keys(given)) {
    if (!v.params.some((p) => p.name === key))
      throw new Error(
        `${what} '${name}': unknown parameter '${key}' (${v.params.length ? `known: ${v.params.map((p) => p.name).join(', ')}` : 'it takes none'})`,
      );
  }
  const params: Record<string, number | boolean> = {};
  for (const p of v.params)
    params[p.name] = p.name in given ? parseValue(what, name, p, given[p.name]) : p.default;
  return { name, params };
}

function parseValue(
  what: string,
  variant: string,
  p: VariantParam,
  raw: unknown,
): number | boolean {
  const bad = (why: string): Error =>
    new Error(`${what} '${variant}': ${p.name}=${String(raw)} ${why}`);
  if (p.type === 'bool') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw bad('must be true or false');
  }
  const x =
    typeof raw === 'number' ? raw : typeof raw === 'string' && raw !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(x)) throw bad('must be a number');
  if (p.type === 'int' && !Number.isInteger(x)) throw bad('must be an integer');
  if (p.min !== undefined && x < p.min) throw bad(`must be >= ${p.min}`);
  return x;
}

/** The canonical string of a parsed spec: `full`, `local:window=128` (parameters in declared order). */
export function formatSpec(entry: SpecEntry, spec: Spec): string {
  const ps = entry.params.map((p) => `${p.name}=${String(spec.params[p.name])}`);
  return ps.length ? `${spec.name}:${ps.join(',')}` : spec.name;
}

/** One line per entry: `name[:defaults]  ...rest`. */
export function describeEntry(entry: SpecEntry, ...rest: string[]): string {
  const ps = entry.params.map((p) => `${p.name}=${String(p.default)}`).join(',');
  return [`${entry.name}${ps ? `:${ps}` : ''}`, ...rest].join('  ');
}

/** A registry of named variants with `NAME:key=value` specs (attention cores, positions, heads). */
export class SpecRegistry<E extends SpecEntry> {
  private readonly entries = new Map<string, E>();
  /** @param what the option's name for messages ('attention', 'position', 'heads'). */
  constructor(
    readonly what: string,
    entries: readonly E[],
  ) {
    for (const e of entries) this.add(e);
  }
  /** @throws Error if the name is taken or malformed. */
  add(e: E): void {
    if (!/^[a-z][a-z0-9-]*$/.test(e.name))
      throw new Error(`${this.what}: name '${e.name}' must be lower-case letters, digits, '-'`);
    if (this.entries.has(e.name))
      throw new Error(`${this.what}: '${e.name}' is already registered`);
    this.entries.set(e.name, e);
  }
  /** Every entry, in registration order. */
  list(): E[] {
    return [...this.entries.values()];
  }
  /** Parse a spec and return it with its entry. @throws as parseSpec. */
  resolve(spec: string | Spec): [E, Spec] {
    const s = parseSpec(this.what, this.entries, spec);
    return [this.entries.get(s.name)!, s];
  }
  /** Parse a spec (defaults filled in). @throws as parseSpec. */
  parse(spec: string | Spec): Spec {
    return this.resolve(spec)[1];
  }
  /** The canonical string of a spec. @throws as parseSpec. */
  format(spec: string | Spec): string {
    const [e, s] = this.resolve(spec);
    return formatSpec(e, s);
  }
}
