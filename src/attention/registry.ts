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
import { lshVariant } from './lsh.js';
import { ReferenceAttention } from './reference.js';
import { routingVariant } from './routing.js';
import { TalkingHeadsAttention } from './talking-heads.js';
import { blockVariant, dilatedVariant, globalVariant, randomVariant } from './patterns/atomic.js';
import * as compound from './patterns/compound.js';
import { axialVariant, bpVariant, imageBlockVariant } from './patterns/extended.js';
import { LinearAttention } from './linear.js';
import { PerformerAttention } from './performer.js';
import { MemoryCompressedAttention } from './compressed.js';
import { InducedPointAttention } from './induced.js';
import { ClusteredAttention } from './clustered.js';
import { LinformerAttention } from './linformer.js';
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

/** The causal chunk length of the linearized cores (linear, performer). */
const CHUNK: VariantParam = {
  name: 'chunk',
  type: 'int',
  default: 64,
  min: 1,
  doc: 'positions per chunk of the causal prefix sums',
};

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
  lshVariant,
  routingVariant,
  {
    name: 'talking-heads',
    params: [],
    cost: 'O(T^2 (D + H)) time, O(T^2) memory (autograd ops)',
    paper: 'Shazeer et al. 2020, Algorithm 2 (survey Sec. 4.6)',
    causal: true,
    nonCausal: true,
    create: (dims) => new TalkingHeadsAttention(dims),
  },
  // Position-based sparse patterns (Lin et al. 2021 Figs. 4-6), run by SparsePatternCore.
  dilatedVariant,
  randomVariant,
  blockVariant,
  globalVariant,
  compound.starVariant,
  compound.longformerVariant,
  compound.etcVariant,
  compound.bigbirdVariant,
  compound.stridedVariant,
  compound.fixedVariant,
  bpVariant,
  imageBlockVariant,
  axialVariant,
  {
    name: 'linear',
    params: [CHUNK],
    cost: 'O(T D^2) time, O(T D) memory; decoding O(D^2) per token',
    paper: 'Katharopoulos et al. 2020, Eq. 4-9, phi = elu + 1 (survey Sec. 4.2.1)',
    causal: true,
    nonCausal: true,
    create: (dims, p) => new LinearAttention(dims, p.chunk as number),
  },
  {
    name: 'performer',
    params: [
      {
        name: 'features',
        type: 'int',
        default: 0,
        min: 0,
        doc: "random features M (0: floor(D ln D) for head width D, performer-pytorch's default)",
      },
      {
        name: 'redraw',
        type: 'int',
        default: 1000,
        min: 0,
        doc: 'redraw the features every N training calls (0: never)',
      },
      CHUNK,
    ],
    cost: 'O(T M D) time, O(T M) memory; decoding O(M D) per token',
    paper:
      'Choromanski et al. 2021, FAVOR+ positive orthogonal random features (survey Sec. 4.2.1)',
    causal: true,
    nonCausal: true,
    create: (dims, p) =>
      new PerformerAttention(dims, p.features as number, p.redraw as number, p.chunk as number),
  },
  {
    name: 'compressed',
    params: [
      { name: 'stride', type: 'int', default: 3, min: 1, doc: 'convolution kernel = stride s' },
    ],
    cost: 'O(T^2 D / s) time, O(T^2 / s) memory',
    paper: 'Liu et al. 2018, Sec. 4.2.2, memory-compressed attention (survey Sec. 4.3.1)',
    causal: true,
    nonCausal: true,
    create: (dims, p) => new MemoryCompressedAttention(dims, p.stride as number),
  },
  {
    name: 'induced',
    params: [{ name: 'points', type: 'int', default: 16, min: 1, doc: 'inducing points m' }],
    cost: 'O(T m D) time, O(T m) memory',
    paper: 'Lee et al. 2019, Set Transformer ISAB, Eq. 9-10 (survey Sec. 4.3.2)',
    causal: false,
    nonCausal: true,
    create: (dims, p) => new InducedPointAttention(dims, p.points as number),
  },
  {
    name: 'clustered',
    params: [
      { name: 'clusters', type: 'int', default: 32, min: 1, doc: 'query clusters C' },
      { name: 'iterations', type: 'int', default: 10, min: 0, doc: 'K-means (Lloyd) rounds' },
    ],
    cost: 'O(T C D i + C T D) time, O(C T) memory',
    paper: 'Vyas et al. 2020, clustered attention, plain K-means (survey Sec. 4.3.2)',
    causal: false,
    nonCausal: true,
    create: (dims, p) => new ClusteredAttention(dims, p.clusters as number, p.iterations as number),
  },
  {
    name: 'linformer',
    params: [
      { name: 'k', type: 'int', default: 64, min: 1, doc: 'projected length k' },
      {
        name: 'max-len',
        type: 'int',
        default: 0,
        min: 0,
        doc: "n, the model's context (0: taken from the model)",
      },
      { name: 'share-kv', type: 'bool', default: false, doc: 'one projection for K and V (F = E)' },
    ],
    cost: 'O(T k D) time, O(T k) memory',
    paper: 'Wang et al. 2020, Linformer, Eq. 7 (survey Sec. 4.4)',
    causal: false,
    nonCausal: true,
    create: (dims, p) =>
      new LinformerAttention(dims, p.k as number, p['max-len'] as number, p['share-kv'] as boolean),
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
