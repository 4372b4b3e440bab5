/**
 * The attention registry: every core by name, with its parameters, cost and paper, and the
 * `NAME[:key=value,...]` spec that selects one (`--attention local:window=128`, and the
 * `attention` field of a model's config.json). Adding a variant: its file, plus one line in
 * `builtins` below.
 */
import type { AttentionCore, CoreDims } from './core.js';
import {
  SpecRegistry,
  describeEntry,
  type Spec,
  type VariantParam,
  type VariantParams,
} from './spec.js';
import { FullAttention } from './full.js';
import { LocalAttention } from './local.js';
import { ReferenceAttention } from './reference.js';
import { TalkingHeadsAttention } from './talking-heads.js';
import { XLAttention } from './xl.js';

export type { VariantParam, VariantParams } from './spec.js';

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

/** A parsed attention spec: a registered name and every parameter (defaults filled in). */
export type AttentionSpec = Spec;

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
  {
    name: 'talking-heads',
    params: [],
    cost: 'O(T^2 (D + H)) time, O(T^2) memory (autograd ops)',
    paper: 'Shazeer et al. 2020, Algorithm 2 (survey Sec. 4.6)',
    causal: true,
    nonCausal: true,
    create: (dims) => new TalkingHeadsAttention(dims),
  },
  {
    name: 'xl',
    params: [
      {
        name: 'mem-len',
        type: 'int',
        default: 0,
        min: 0,
        doc: 'memory length M (positions kept between segments)',
      },
    ],
    cost: 'O(T (M + T) D) time, O(T (M + T)) memory (autograd ops)',
    paper: 'Dai et al. 2019, Sec. 3.2-3.3 (Transformer-XL; survey Sec. 6.4)',
    causal: true,
    nonCausal: false,
    create: (dims, p) => new XLAttention(dims, p['mem-len'] as number),
  },
];

const registry = new SpecRegistry('attention', builtins);

/**
 * Register a variant (library users' own cores).
 * @throws Error if the name is taken or malformed.
 */
export function registerAttention(v: AttentionVariant): void {
  registry.add(v);
}

/** Every registered variant, in registration order. */
export function attentionVariants(): AttentionVariant[] {
  return registry.list();
}

/** One line per variant: name, parameters, cost, paper (`transformer info --attention`). */
export function describeAttentionVariants(): string[] {
  return attentionVariants().map((v) => describeEntry(v, v.cost, v.paper));
}

/**
 * Parse `NAME[:key=value,...]` (or a spec object) into a spec with every parameter.
 * @throws Error naming an unknown variant (listing the known ones), an unknown parameter
 *   (listing the variant's), or a value of the wrong type or out of range.
 */
export function parseAttentionSpec(spec: string | AttentionSpec): AttentionSpec {
  return registry.parse(spec);
}

/** The canonical string of a spec: `full`, `local:window=128` (parameters in declared order). */
export function formatAttentionSpec(spec: string | AttentionSpec): string {
  return registry.format(spec);
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
  const [v, s] = registry.resolve(spec);
  if (causal && !v.causal)
    throw new Error(`attention '${s.name}' cannot run causally, as ${where} needs`);
  if (!causal && !v.nonCausal)
    throw new Error(`attention '${s.name}' is causal only; ${where} is not causal`);
  return s;
}

/** Build the core a spec names, for heads of the given size. @throws as parseAttentionSpec. */
export function createAttentionCore(spec: string | AttentionSpec, dims: CoreDims): AttentionCore {
  const [v, s] = registry.resolve(spec);
  return v.create(dims, s.params);
}
