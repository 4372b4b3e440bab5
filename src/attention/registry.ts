/**
 * The attention registry: every core by name, with its parameters, cost and paper, and the
 * `NAME[:key=value,...]` spec that selects one (`--attention local:window=128`, and the
 * `attention` field of a model's config.json). Adding a variant: its file, plus one line in
 * `builtins` below.
 */
import type { AttentionCore, CoreDims } from './core.js';
import { FullAttention } from './full.js';
import { LocalAttention } from './local.js';
import { ReferenceAttention } from './reference.js';

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

/** A registered attention variant. */
export interface AttentionVariant {
  /** Registry name (the spec's NAME). */
  readonly name: string;
  readonly params: readonly VariantParam[];
  /** Time and memory of one head over T queries and keys. */
  readonly cost: string;
  /** The paper (and its section or figure in the survey). */
  readonly paper: string;
  readonly causal: boolean;
  readonly nonCausal: boolean;
  create(dims: CoreDims, params: VariantParams): AttentionCore;
}

/** A parsed spec: a registered name and every parameter (defaults filled in). */
export interface AttentionSpec {
  readonly name: string;
  readonly params: VariantParams;
}

const builtins: AttentionVariant[] = [
  {
    name: 'full',
    params: [],
    cost: 'O(T^2 D) time, O(T^2) memory',
    paper: 'Vaswani et al. 2017, Eq. 1 (fused kernel)',
    causal: true,
    nonCausal: true,
    create: (dims) => new FullAttention(dims),
  },
  {
    name: 'reference',
    params: [],
    cost: 'O(T^2 D) time, O(T^2) memory (autograd ops, no fused kernel)',
    paper: 'Vaswani et al. 2017, Eq. 1 (readable reference)',
    causal: true,
    nonCausal: true,
    create: (dims) => new ReferenceAttention(dims),
  },
  {
    name: 'local',
    params: [
      {
        name: 'window',
        type: 'int',
        default: 128,
        min: 1,
        doc: 'keys each side of a query, itself included',
      },
    ],
    cost: 'O(T w D) time, O(T w) memory',
    paper: 'band attention: Lin et al. 2021 Fig. 4(b); Beltagy et al. 2020 (sliding window)',
    causal: true,
    nonCausal: true,
    create: (dims, p) => new LocalAttention(dims, p.window as number),
  },
];

const registry = new Map<string, AttentionVariant>(builtins.map((v) => [v.name, v]));

/**
 * Register a variant (library users' own cores).
 * @throws Error if the name is taken or malformed.
 */
export function registerAttention(v: AttentionVariant): void {
  if (!/^[a-z][a-z0-9-]*$/.test(v.name))
    throw new Error(`registerAttention: name '${v.name}' must be lower-case letters, digits, '-'`);
  if (registry.has(v.name)) throw new Error(`registerAttention: '${v.name}' is already registered`);
  registry.set(v.name, v);
}

/** Every registered variant, in registration order. */
export function attentionVariants(): AttentionVariant[] {
  return [...registry.values()];
}

/** One line per variant: name, parameters, cost, paper (`transformer info --attention`). */
export function describeAttentionVariants(): string[] {
  return attentionVariants().map((v) => {
    const ps = v.params.map((p) => `${p.name}=${String(p.default)}`).join(',');
    return `${v.name}${ps ? `:${ps}` : ''}  ${v.cost}  ${v.paper}`;
  });
}

/**
 * Parse `NAME[:key=value,...]` (or a spec object) into a spec with every parameter.
 * @throws Error naming an unknown variant (listing the known ones), an unknown parameter
 *   (listing the variant's), or a value of the wrong type or out of range.
 */
export function parseAttentionSpec(spec: string | AttentionSpec): AttentionSpec {
  let name: string;
  const given: Record<string, unknown> = {};
  if (typeof spec === 'string') {
    const colon = spec.indexOf(':');
    name = (colon < 0 ? spec : spec.slice(0, colon)).trim();
    const rest = colon < 0 ? '' : spec.slice(colon + 1);
    for (const kv of rest.split(',').filter((s) => s.trim() !== '')) {
      const eq = kv.indexOf('=');
      if (eq < 0) throw new Error(`attention '${spec}': expected key=value, got '${kv}'`);
      given[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
  } else if (spec && typeof spec === 'object' && typeof spec.name === 'string') {
    name = spec.name;
    Object.assign(given, spec.params ?? {});
  } else {
    throw new Error(
      `attention: expected a string such as 'local:window=128', got ${JSON.stringify(spec)}`,
    );
  }
  const v = registry.get(name);
  if (!v)
    throw new Error(
      `attention: unknown variant '${name}' (known: ${[...registry.keys()].join(', ')})`,
    );
  const params: Record<string, number | boolean> = {};
  for (const key of Object.keys(given)) {
    if (!v.params.some((p) => p.name === key))
      throw new Error(
        `attention '${name}': unknown parameter '${key}' (${v.params.length ? `known: ${v.params.map((p) => p.name).join(', ')}` : 'it takes none'})`,
      );
  }
  for (const p of v.params) {
    params[p.name] = p.name in given ? parseValue(name, p, given[p.name]) : p.default;
  }
  return { name, params };
}

function parseValue(variant: string, p: VariantParam, raw: unknown): number | boolean {
  const bad = (why: string): Error =>
    new Error(`attention '${variant}': ${p.name}=${String(raw)} ${why}`);
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

/** The canonical string of a spec: `full`, `local:window=128` (parameters in declared order). */
export function formatAttentionSpec(spec: string | AttentionSpec): string {
  const s = parseAttentionSpec(spec);
  const v = registry.get(s.name)!;
  const ps = v.params.map((p) => `${p.name}=${String(s.params[p.name])}`);
  return ps.length ? `${s.name}:${ps.join(',')}` : s.name;
}

/**
 * Check that a variant can do what a model asks of it.
 * @param where the config field or flag, for the message (e.g. 'decoder self-attention').
 * @throws Error naming the variant when it cannot run causally (decoders) or not (encoders).
 */
export function checkAttention(
  spec: string | AttentionSpec,
  causal: boolean,
  where: string,
): AttentionSpec {
  const s = parseAttentionSpec(spec);
  const v = registry.get(s.name)!;
  if (causal && !v.causal)
    throw new Error(`attention '${s.name}' cannot run causally, as ${where} needs`);
  if (!causal && !v.nonCausal)
    throw new Error(`attention '${s.name}' is causal only; ${where} is not causal`);
  return s;
}

/** Build the core a spec names, for heads of the given size. @throws as parseAttentionSpec. */
export function createAttentionCore(spec: string | AttentionSpec, dims: CoreDims): AttentionCore {
  const s = parseAttentionSpec(spec);
  return registry.get(s.name)!.create(dims, s.params);
}
