/**
 * The attention weights of a loaded model on one input, per layer and head, as the figures
 * draw them (`transformer attention`, the `serve` page): one AttentionSection per kind of
 * attention (encoder self-attention, causal decoder self-attention, cross-attention), each
 * map the (rows x cols) softmax weights of one head (Eq. 1, Sec. 3.2.1). For an RNN
 * encoder-decoder with attention, its alignment (Bahdanau et al. 2015, Fig. 3).
 *
 * Shape letters: T target (or the only) length, S source length, H heads.
 */
import { noGrad } from '../autograd.js';
import { tensor, type Tensor } from '../tensor.js';
import type { MultiheadAttention } from '../nn/attention.js';
import type { Module } from '../nn/module.js';
import { encodeChecked, type Tokenizer } from '../tokenizers/index.js';
import { attentionMapsFromTensor, type AttentionSection } from '../viz/index.js';
import { clipWithWarning, type KeepSide } from '../data/index.js';
import { RNNSeq2Seq } from '../rnn/seq2seq.js';
import { translateIds } from './translate.js';
import type { NeuralModel } from './load.js';

/** Options of attentionSections. */
export interface AttentionMapsOptions {
  /** Translation: the target prefix (default: the model's greedy translation, 64 tokens). */
  target?: string;
  /** Hears about inputs cut to the context and characters outside the vocabulary. */
  onWarning?: (message: string) => void;
  /** The model's directory, named in errors. */
  dir?: string;
}

/**
 * The attention maps of `m` on `text` (translation: source `text`, target `o.target` or the
 * model's greedy translation, from bos). Inputs longer than the context are cut (a warning).
 * The modules' weight capture is switched off again afterwards.
 * @returns sections with rowTokens, colTokens and one map per layer and head ((T, S) weights,
 *   row-major float32, titled "layer i head h")
 * @throws Error when the text encodes to no tokens, or for an RNN encoder-decoder without
 *   attention (naming the directory).
 */
export function attentionSections(
  m: NeuralModel,
  text: string,
  o: AttentionMapsOptions = {},
): AttentionSection[] {
  const clipped = (ids: number[], maxLen: number, keep: KeepSide): number[] =>
    clipWithWarning([ids], maxLen, keep, o.onWarning)[0];
  const empty = (ids: number[]): number[] => {
    if (ids.length === 0) throw new Error('--text: the text is empty (it encodes to no tokens)');
    return ids;
  };
  if (m.task === 'translate') {
    const { model, vocabs } = m;
    const src = empty(clipped(vocabs.src.encode(text), model.config.maxLen - 1, 'start'));
    const tgtText = o.target ?? translateIds(model, vocabs, [src], { beam: 1, maxLen: 64 })[0];
    const tgtIds = clipped(vocabs.tgt.encode(tgtText), model.config.maxLen - 1, 'start');
    const tgt = [vocabs.tgt.bosId, ...tgtIds];
    const srcTok = tokenLabels(vocabs.src, src);
    const tgtTok = tokenLabels(vocabs.tgt, tgt);
    if (model instanceof RNNSeq2Seq)
      return [rnnAlignmentSection(model, src, tgt, tgtTok, srcTok, o.dir ?? 'the model')];
    return captured(
      model,
      () => model.forward(ids(src), ids(tgt)),
      (caps) => [
        section(
          'encoder self-attention',
          srcTok,
          srcTok,
          caps.filter(([n]) => n.includes('encoder.') && n.endsWith('self_attn')),
        ),
        section(
          'decoder self-attention (causal)',
          tgtTok,
          tgtTok,
          caps.filter(([n]) => n.includes('decoder.') && n.endsWith('self_attn')),
        ),
        section(
          'decoder cross-attention (target x source)',
          tgtTok,
          srcTok,
          caps.filter(([n]) => n.endsWith('multihead_attn')),
        ),
      ],
    );
  }
  if (m.task === 'lm') {
    const { model, tokenizer } = m;
    const checked = encodeChecked(tokenizer, text, '--text');
    if (checked.warning !== null) o.onWarning?.(checked.warning);
    const seq = empty(clipped(checked.ids, model.config.blockSize, 'end'));
    const toks = tokenLabels(tokenizer, seq);
    return captured(
      model,
      () => model.forward(ids(seq)),
      (caps) => [section('causal self-attention', toks, toks, caps)],
    );
  }
  const { model, tokenizer } = m;
  const enc = empty(tokenizer.encode(text));
  const seq = [tokenizer.bosId, ...clipped(enc, model.config.maxLen - 1, 'start')];
  const toks = tokenLabels(tokenizer, seq);
  return captured(
    model,
    () => model.forward(ids(seq)),
    (caps) => [section('encoder self-attention', toks, toks, caps)],
  );
}

/** (1, n) int32 ids. */
function ids(seq: number[]): Tensor {
  return tensor([seq], undefined, 'int32');
}

/** Tokens as displayed on the axes: each id decoded on its own. */
export function tokenLabels(tok: Tokenizer, ids: number[]): string[] {
  return ids.map((id) => {
    const s = tok.decode([id]);
    return s === '' ? (tok.idToToken(id) ?? `#${id}`) : s.replace(/\n/g, '\\n');
  });
}

/**
 * Run `forward` without gradients with weight capture on in every attention module under `m`
 * (keyed by module path), read the sections, and switch capture off again.
 */
function captured(
  m: Module,
  forward: () => unknown,
  read: (caps: [string, MultiheadAttention][]) => AttentionSection[],
): AttentionSection[] {
  const caps: [string, MultiheadAttention][] = [];
  for (const [name, sub] of m.namedModules()) {
    if ('captureWeights' in sub && 'lastWeights' in sub)
      caps.push([name, sub as unknown as MultiheadAttention]);
  }
  for (const [, mha] of caps) mha.captureWeights = true;
  try {
    noGrad(forward);
    return read(caps);
  } finally {
    for (const [, mha] of caps) {
      mha.captureWeights = false;
      mha.lastWeights = null;
    }
  }
}

/** One section: the maps of every module (layer) in order, one per head. */
function section(
  name: string,
  rows: string[],
  cols: string[],
  modules: [string, MultiheadAttention][],
): AttentionSection {
  const maps = modules.flatMap(([, m], i) =>
    attentionMapsFromTensor(m.lastWeights as Tensor, { titlePrefix: `layer ${i + 1}` }),
  );
  return {
    name,
    rowTokens: rows,
    colTokens: cols,
    maps,
    columns: Math.min(maps.length / Math.max(modules.length, 1), 8),
  };
}

/**
 * The alignment of an RNN encoder-decoder with attention (Bahdanau et al. 2015, Fig. 3):
 * rows = target tokens (decoder inputs, from bos), cols = source tokens, row t the weights
 * the decoder used at step t (RNNSeq2Seq.recordAlignment).
 * @throws Error naming the directory when the model has no attention (--arch rnn).
 */
export function rnnAlignmentSection(
  model: RNNSeq2Seq,
  src: number[],
  tgt: number[],
  tgtTok: string[],
  srcTok: string[],
  dir: string,
): AttentionSection {
  const kind = model.config.attention;
  if (kind === 'none')
    throw new Error(
      `--model: '${dir}' is an RNN encoder-decoder without attention (--arch rnn): it has no alignment to draw`,
    );
  model.recordAlignment = true;
  model.alignments = [];
  try {
    noGrad(() => model.forward(ids(src), ids(tgt)));
    const S = src.length;
    const weights = new Float32Array(tgt.length * S);
    model.alignments.forEach((w, t) => weights.set(w.f32.subarray(0, S), t * S)); // (1, S) each
    const local = model.config.window ? `, local-p D = ${model.config.window}` : '';
    return {
      name: `${kind} alignment (target x source${local})`,
      rowTokens: tgtTok,
      colTokens: srcTok,
      maps: [{ title: `${kind} alignment`, weights, rows: tgt.length, cols: S }],
    };
  } finally {
    model.recordAlignment = false;
    model.alignments = [];
  }
}
