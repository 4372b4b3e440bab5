/**
 * Model configuration: the block options the three models share (width, heads, FFN,
 * dropout, activation, norm placement, attention core), each model's own fields, and one
 * validation used by the constructors, so the library, the CLI's `--config` and loading a
 * model directory refuse the same bad values with the same message.
 */
import type { Activation } from '../nn/layers.js';
import { checkAttention, formatAttentionSpec } from '../attention/registry.js';
import { formatPositionSpec, parsePositionSpec } from '../attention/positions.js';
import { formatHeadsSpec, kvHeadsFor } from '../attention/heads.js';
import { checkDepthSpec, formatDepthSpec } from '../nn/depth-registry.js';
import { checkCrossAttention, type CrossAttention } from '../nn/transformer.js';
import { NORM_KINDS, type NormKind } from '../nn/norms.js';
import { preview } from '../io/json-file.js';

/** The options of one Transformer block, shared by every model config. */
export interface BlockConfig {
  /** d_model, the residual stream's width. */
  dModel: number;
  /** Attention heads h; d_model must be divisible by h. */
  nhead: number;
  /** d_ff, the FFN's inner width (Sec. 3.3). */
  dimFeedforward?: number;
  /** P_drop (Sec. 5.4), in [0, 1). */
  dropout?: number;
  /** FFN activation: 'relu' (the paper) or 'gelu' (GPT, BERT). */
  activation?: Activation;
  /** Pre-LN (true) or the paper's post-LN (false). */
  normFirst?: boolean;
  /** LayerNorm epsilon (every norm kind's), > 0. */
  layerNormEps?: number;
  /**
   * The norm (survey Sec. 5.2): 'layer' (default, LayerNorm), 'rms' (RMSNorm) or 'batch'
   * (BatchNorm over batch and time, padding excluded, running statistics in eval mode).
   */
  norm?: NormKind;
  /**
   * Self-attention core: a registry spec such as `'full'` (default) or `'local:window=64'`
   * (`transformer info --attention` lists them).
   */
  attention?: string;
  /**
   * Positions: absolute 'learned' (GPT's wpe) or 'sinusoidal' (Sec. 3.5) added to the
   * embeddings, or a relative scheme inside self-attention: 'rope', 'alibi',
   * 't5[:buckets=32,max-distance=128]', 'shaw[:clip=16]' (src/attention/positions.ts).
   * The default is the model's ('learned' for DecoderLM, 'sinusoidal' otherwise).
   */
  position?: string;
  /**
   * Key/value heads: 'standard' (default), 'multi-query' (one, Shazeer 2019) or
   * 'grouped-query:groups=G' (G dividing nhead, Ainslie et al. 2023).
   */
  heads?: string;
  /**
   * How the stack runs its layers: 'fixed' (default, every layer once) or the Universal
   * Transformer 'universal:max-steps=8,act=true,tau=0.01' (src/nn/depth-registry.ts; the
   * model's layers are then one shared block applied max-steps times).
   */
  depth?: string;
}

/** A block config with every default filled in (attention in canonical form). */
export type ResolvedBlock = Required<BlockConfig>;

/** Block defaults a model picks from (dimFeedforward, when absent, is 4 d_model). */
export type BlockDefaults = Pick<
  ResolvedBlock,
  'dropout' | 'activation' | 'normFirst' | 'layerNormEps'
>;

/** The paper's block (Sec. 3, 5.4): relu, post-LN, dropout 0.1, LayerNorm eps 1e-5. */
export const PAPER_BLOCK: BlockDefaults = {
  dropout: 0.1,
  activation: 'relu',
  normFirst: false,
  layerNormEps: 1e-5,
};

/** GPT-2's and BERT-style pre-LN block: gelu, pre-LN, dropout 0.1, eps 1e-5. */
export const GPT_BLOCK: BlockDefaults = { ...PAPER_BLOCK, activation: 'gelu', normFirst: true };

/**
 * Validate a model config (validateModelConfig) and fill in its defaults: the model's own
 * (`own`) and the block's (`block`), with the attention spec in canonical form.
 * @throws ConfigError as validateModelConfig.
 */
export function resolveModelConfig<T extends BlockConfig, D extends Partial<T>>(
  kind: ModelKind,
  config: T,
  block: BlockDefaults,
  own: D,
): Required<T> {
  validateModelConfig(kind, config);
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  return {
    ...own,
    ...given,
    dimFeedforward: config.dimFeedforward ?? 4 * config.dModel,
    dropout: config.dropout ?? block.dropout,
    activation: config.activation ?? block.activation,
    normFirst: config.normFirst ?? block.normFirst,
    layerNormEps: config.layerNormEps ?? block.layerNormEps,
    norm: config.norm ?? 'layer',
    attention: formatAttentionSpec(config.attention ?? 'full'),
    heads: formatHeadsSpec(config.heads ?? 'standard'),
    depth: formatDepthSpec(config.depth ?? 'fixed'),
    position: formatPositionSpec(
      config.position ?? (own as { position?: string }).position ?? 'sinusoidal',
    ),
  } as Required<T>;
}

/** The largest model a config may describe: 1e9 parameters (4 GB of float32 weights). */
export const MAX_PARAMETERS = 1e9;

/** A model config that cannot be built, naming the field, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Field =
  | { type: 'int'; min: number; max?: number }
  | { type: 'number'; min: number; below?: number; above?: boolean }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'attention' }
  | { type: 'heads' }
  | { type: 'depth' }
  | { type: 'position'; absolute: readonly string[] };

const INT_MAX = 2 ** 31 - 1;
const blockFields: Record<string, Field> = {
  dModel: { type: 'int', min: 1, max: 1 << 16 },
  nhead: { type: 'int', min: 1, max: 1 << 12 },
  dimFeedforward: { type: 'int', min: 1, max: 1 << 20 },
  dropout: { type: 'number', min: 0, below: 1 },
  activation: { type: 'enum', values: ['relu', 'gelu'] },
  normFirst: { type: 'bool' },
  layerNormEps: { type: 'number', min: 0, above: true },
  norm: { type: 'enum', values: NORM_KINDS },
  attention: { type: 'attention' },
  heads: { type: 'heads' },
  depth: { type: 'depth' },
};
const vocab: Field = { type: 'int', min: 1, max: INT_MAX };
const layers: Field = { type: 'int', min: 1, max: 4096 };
const length: Field = { type: 'int', min: 1, max: 1 << 20 };
const position: Field = { type: 'position', absolute: ['learned', 'sinusoidal'] };
const padId: Field = { type: 'int', min: 0, max: INT_MAX };
/** The fields a decoder-only LM shares with Transformer-XL (in this order), and its required ones. */
const decoderLMFields: Record<string, Field> = {
  ...blockFields,
  vocabSize: vocab,
  blockSize: length,
  numLayers: layers,
};
const decoderLMRequired = ['vocabSize', 'blockSize', 'dModel', 'nhead', 'numLayers'] as const;
const initStd: Field = { type: 'number', min: 0, above: true };

/** The model kinds and their fields: which are required and how each is bounded. */
const schemas = {
  seq2seq: {
    required: [
      'srcVocabSize',
      'tgtVocabSize',
      'dModel',
      'nhead',
      'numEncoderLayers',
      'numDecoderLayers',
      'dimFeedforward',
    ],
    fields: {
      ...blockFields,
      srcVocabSize: vocab,
      tgtVocabSize: vocab,
      numEncoderLayers: layers,
      numDecoderLayers: layers,
      maxLen: length,
      tieWeights: { type: 'bool' },
      padId,
      position: { type: 'position', absolute: ['sinusoidal'] },
      crossAttention: { type: 'enum', values: ['final', 'layerwise'] },
    } as Record<string, Field>,
  },
  lm: {
    required: decoderLMRequired,
    fields: { ...decoderLMFields, position, initStd } as Record<string, Field>,
  },
  /** RNNSeq2Seq (src/rnn/seq2seq.ts): the RNN encoder-decoders. */
  rnn: {
    required: ['srcVocabSize', 'tgtVocabSize', 'hiddenSize'],
    fields: {
      srcVocabSize: vocab,
      tgtVocabSize: vocab,
      hiddenSize: { type: 'int', min: 1, max: 1 << 14 },
      embedDim: { type: 'int', min: 1, max: 1 << 14 },
      numLayers: { type: 'int', min: 1, max: 64 },
      cell: { type: 'enum', values: ['gru', 'lstm'] },
      bidirectional: { type: 'bool' },
      attention: { type: 'enum', values: ['none', 'bahdanau', 'dot', 'general'] },
      window: { type: 'int', min: 0, max: 1 << 20 },
      dropout: { type: 'number', min: 0, below: 1 },
      padId,
      maxLen: length,
    } as Record<string, Field>,
  },
  xl: {
    required: decoderLMRequired,
    fields: {
      ...decoderLMFields,
      memLen: { type: 'int', min: 0, max: 1 << 20 },
      initStd,
    } as Record<string, Field>,
  },
  classifier: {
    required: ['vocabSize', 'numClasses', 'dModel', 'nhead', 'numLayers'],
    fields: {
      ...blockFields,
      vocabSize: vocab,
      numClasses: { type: 'int', min: 1, max: 1 << 20 },
      numLayers: layers,
      maxLen: length,
      pooling: { type: 'enum', values: ['cls', 'mean'] },
      position,
      padId,
      earlyExit: { type: 'bool' },
    } as Record<string, Field>,
  },
} as const;

export type ModelKind = keyof typeof schemas;

function allowed(f: Field): string {
  switch (f.type) {
    case 'int':
      return `an integer in [${f.min}, ${f.max ?? INT_MAX}]`;
    case 'number':
      return `a number ${f.above ? '>' : '>='} ${f.min}${f.below !== undefined ? ` and < ${f.below}` : ''}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return f.values.map((v) => `'${v}'`).join(' or ');
    case 'attention':
      return "an attention spec such as 'full' or 'local:window=64'";
    case 'heads':
      return "'standard', 'multi-query' or 'grouped-query:groups=G'";
    case 'depth':
      return "'fixed' or 'universal:max-steps=8,act=true,tau=0.01'";
    case 'position':
      return `${f.absolute.map((v) => `'${v}'`).join(', ')}, or a relative 'rope', 'alibi', 't5', 'shaw'`;
  }
}

function checkField(
  kind: ModelKind,
  key: string,
  f: Field,
  v: unknown,
  config: Record<string, unknown>,
): void {
  const bad = (): ConfigError =>
    new ConfigError(`${kind} config: ${key} = ${preview(v)} is not allowed (${allowed(f)})`);
  switch (f.type) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < f.min || v > (f.max ?? INT_MAX))
        throw bad();
      return;
    case 'number':
      if (
        typeof v !== 'number' ||
        !Number.isFinite(v) ||
        (f.above ? v <= f.min : v < f.min) ||
        (f.below !== undefined && v >= f.below)
      )
        throw bad();
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw bad();
      return;
    case 'enum':
      if (typeof v !== 'string' || !f.values.includes(v)) throw bad();
      return;
    case 'attention':
      if (typeof v !== 'string') throw bad();
      return;
    case 'heads':
      if (typeof v !== 'string') throw bad();
      try {
        kvHeadsFor(v, (config.nhead as number | undefined) ?? 1);
      } catch (e) {
        throw new ConfigError(`${kind} config: heads = '${v}': ${(e as Error).message}`);
      }
      return;
    case 'depth':
      if (typeof v !== 'string') throw bad();
      try {
        checkDepthSpec(v);
      } catch (e) {
        throw new ConfigError(`${kind} config: depth = '${v}': ${(e as Error).message}`);
      }
      return;
    case 'position': {
      if (typeof v !== 'string') throw bad();
      let name: string;
      try {
        name = parsePositionSpec(v).name;
      } catch (e) {
        throw new ConfigError(`${kind} config: position = '${v}': ${(e as Error).message}`);
      }
      if (!['rope', 'alibi', 't5', 'shaw', ...f.absolute].includes(name)) throw bad();
      return;
    }
  }
}

/**
 * Validate a model config before anything is allocated: every field known, of its type and
 * in its range; d_model divisible by the heads; the pad id inside the vocabulary; the
 * attention core able to run as the model needs (causal in decoders); and the parameter
 * count within MAX_PARAMETERS.
 * @param kind 'seq2seq' (Seq2SeqTransformer), 'rnn' (RNNSeq2Seq), 'lm' (DecoderLM), 'xl' (TransformerXL),
 *   'classifier' (EncoderClassifier).
 * @throws ConfigError naming the field, its value and the allowed range (or the unknown
 *   field and the known ones).
 */
export function validateModelConfig(kind: ModelKind, config: unknown): void {
  const schema = schemas[kind];
  if (!config || typeof config !== 'object' || Array.isArray(config))
    throw new ConfigError(`${kind} config: expected an object, got ${preview(config)}`);
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!(key in schema.fields))
      throw new ConfigError(
        `${kind} config: unknown field '${key}' (known: ${Object.keys(schema.fields).join(', ')})`,
      );
  }
  for (const key of schema.required)
    if (c[key] === undefined) throw new ConfigError(`${kind} config: ${key} is required`);
  for (const [key, f] of Object.entries(schema.fields))
    if (c[key] !== undefined) checkField(kind, key, f, c[key], c);
  if (kind === 'rnn') return checkRNNConfig(c);
  const dModel = c.dModel as number;
  const nhead = c.nhead as number;
  if (dModel % nhead !== 0)
    throw new ConfigError(`${kind} config: dModel ${dModel} must be divisible by nhead ${nhead}`);
  const vocabs = kind === 'seq2seq' ? [c.srcVocabSize, c.tgtVocabSize] : [c.vocabSize];
  if (c.padId !== undefined && vocabs.some((V) => (c.padId as number) >= (V as number)))
    throw new ConfigError(
      `${kind} config: padId ${String(c.padId)} must be below the vocabulary size ${vocabs.join(' / ')}`,
    );
  if (kind === 'seq2seq') {
    try {
      checkCrossAttention(
        (c.crossAttention as CrossAttention | undefined) ?? 'final',
        c.numEncoderLayers as number,
        c.numDecoderLayers as number,
        formatDepthSpec((c.depth as string | undefined) ?? 'fixed'),
      );
    } catch (e) {
      throw new ConfigError(`${kind} config: ${(e as Error).message}`);
    }
  }
  if (
    c.earlyExit === true &&
    !formatDepthSpec((c.depth as string | undefined) ?? 'fixed').startsWith('fixed')
  )
    throw new ConfigError(
      `${kind} config: earlyExit needs depth 'fixed' (an exit after every layer), got depth '${String(c.depth)}'`,
    );
  const attention = (c.attention as string | undefined) ?? 'full';
  try {
    if (kind === 'seq2seq') {
      checkAttention(attention, false, 'the encoder');
      checkAttention(attention, true, 'the decoder');
    } else {
      const lm = kind === 'lm' || kind === 'xl';
      checkAttention(attention, lm, lm ? 'a language model' : 'a classifier');
    }
  } catch (e) {
    throw new ConfigError(`${kind} config: attention = '${attention}': ${(e as Error).message}`);
  }
  const n = estimateParameters(kind, c);
  if (n > MAX_PARAMETERS)
    throw new ConfigError(
      `${kind} config: about ${n.toExponential(2)} parameters, more than the ${MAX_PARAMETERS.toExponential(0)} allowed (reduce dModel, layers, dimFeedforward or the vocabulary)`,
    );
}

/** The cross-field checks of an RNNSeq2Seq config and its parameter count. */
function checkRNNConfig(c: Record<string, unknown>): void {
  const num = (k: string, d: number): number => (c[k] as number | undefined) ?? d;
  const [Vs, Vt, H] = [num('srcVocabSize', 0), num('tgtVocabSize', 0), num('hiddenSize', 0)];
  if (c.padId !== undefined && ((c.padId as number) >= Vs || (c.padId as number) >= Vt))
    throw new ConfigError(`rnn config: padId ${String(c.padId)} must be below ${Vs} / ${Vt}`);
  if ((c.attention ?? 'none') === 'none' && num('window', 0) > 0)
    throw new ConfigError('rnn config: window (local-p) needs an attention other than none');
  const D = num('embedDim', H);
  const E = (c.bidirectional ? 2 : 1) * H;
  const gates = c.cell === 'lstm' ? 4 : 3;
  const n = (Vs + Vt) * D + Vt * H + 2 * num('numLayers', 1) * gates * (D + E + 2 * H) * E;
  if (n > MAX_PARAMETERS)
    throw new ConfigError(
      `rnn config: about ${n.toExponential(2)} parameters, more than the ${MAX_PARAMETERS.toExponential(0)} allowed (reduce hiddenSize, embedDim, numLayers or the vocabulary)`,
    );
}

/** Parameters of a valid config, by formula (attention 4C^2 + 4C, FFN 2CF + F + C per layer). */
export function estimateParameters(kind: ModelKind, c: Record<string, unknown>): number {
  const C = c.dModel as number;
  const Fd = (c.dimFeedforward as number | undefined) ?? 4 * C;
  const attn = 4 * C * C + 4 * C;
  const ffn = 2 * C * Fd + Fd + C;
  const num = (k: string): number => (c[k] as number | undefined) ?? 0;
  if (kind === 'seq2seq')
    return (
      num('numEncoderLayers') * (attn + ffn) +
      num('numDecoderLayers') * (2 * attn + ffn) +
      (num('srcVocabSize') + 2 * num('tgtVocabSize') + ((c.maxLen as number | undefined) ?? 512)) *
        C
    );
  const len =
    kind === 'lm' || kind === 'xl' ? num('blockSize') : ((c.maxLen as number | undefined) ?? 512);
  return num('numLayers') * (attn + ffn) + (num('vocabSize') + len + num('numClasses')) * C;
}
