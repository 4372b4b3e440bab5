/**
 * Decoding for encoder-decoder models (`Seq2SeqModel`: the Transformer's `Seq2SeqTransformer`
 * and the RNN encoder-decoders' `RNNSeq2Seq`): greedy decoding and beam
 * search (Sutskever et al. 2014; Vaswani et al. 2017, Sec. 6.1: beam 4, alpha 0.6) with the
 * GNMT length penalty (Wu et al. 2016, Sec. 7). Both are batched and incremental: the source
 * is encoded once, the decoder runs one position per step with KV caches, cross-attention
 * keys/values are computed once per source, and finished sources leave the batch.
 *
 * Shape letters: B batch (sources), K beam size, S source length, C d_model, V vocabulary,
 * H heads, D head width.
 */
import { noGrad } from '../autograd.js';
import * as F from '../ops/index.js';
import { Tensor, fmtShape, tensor } from '../tensor.js';
import type { DecoderLayerCache } from '../nn/transformer.js';
import { selectRows0 } from '../attention/state.js';

/**
 * What greedy decoding and beam search need of an encoder-decoder: `Seq2SeqTransformer` and
 * `RNNSeq2Seq` both satisfy it. `decode` runs the new target positions given the per-layer
 * decoding states from `newCaches` (which it advances); the states' `selectRows` keeps or
 * reorders batch rows.
 */
export interface Seq2SeqModel {
  readonly config: {
    readonly tgtVocabSize: number;
    readonly maxLen: number;
    readonly padId: number;
  };
  readonly training: boolean;
  train(mode?: boolean): unknown;
  eval(): unknown;
  /** @param src (B, S) int32 @returns memory (B, S, E), srcPadMask (B, S) bool */
  encode(src: Tensor): { memory: Tensor; srcPadMask: Tensor };
  /** @param tgt (B, T) int32 new positions @returns hidden (B, T, C) */
  decode(
    tgt: Tensor,
    memory: Tensor,
    srcPadMask: Tensor | null,
    caches?: DecoderLayerCache[],
    offset?: number,
  ): Tensor;
  /** (..., C) -> logits (..., V) */
  project(hidden: Tensor): Tensor;
  newCaches(): DecoderLayerCache[];
}

/** Options shared by greedy decoding and beam search. */
export interface Seq2SeqDecodeOptions {
  /** First decoder input (not part of the output). */
  bosId: number;
  /** End of sequence: ends a hypothesis; not part of the output tokens. */
  eosId: number;
  /** Maximum number of decoder steps, i.e. generated tokens counting a final eos. */
  maxLen: number;
}

export interface BeamSearchOptions extends Seq2SeqDecodeOptions {
  /** K, live hypotheses per source (integer >= 1). Vaswani et al. 2017 use 4. */
  beamSize: number;
  /**
   * GNMT length-penalty exponent alpha (Wu et al. 2016, Eq. 14): a hypothesis' score is
   * sum(log p) / lp with lp = ((5 + len) / 6)^alpha, len = its token count including a final
   * eos. 0 (default) = no normalization; Vaswani et al. 2017 use 0.6.
   */
  lengthPenalty?: number;
}

/** One beam-search result. */
export interface Hypothesis {
  /** Output tokens, without bos and without the final eos. */
  tokens: number[];
  /** Length-normalized score: sum of the tokens' log-probs (and eos's, if finished) / lp. */
  score: number;
  /** True when the hypothesis ended with eos; false when it was cut at maxLen. */
  finished: boolean;
}

/** Rows `idx` of t along dimension 0 (a copy; no gradient). */
export const indexSelect0 = selectRows0;

/** GNMT length penalty lp(len) = ((5 + len) / 6)^alpha (Wu et al. 2016, Eq. 14). */
export function gnmtLengthPenalty(len: number, alpha: number): number {
  return alpha === 0 ? 1 : Math.pow((5 + len) / 6, alpha);
}

function checkOptions(
  model: Seq2SeqModel,
  src: Tensor,
  o: Seq2SeqDecodeOptions,
  what: string,
): void {
  if (src.ndim !== 2 || src.dtype !== 'int32' || src.shape[0] < 1 || src.shape[1] < 1)
    throw new Error(`${what}: src must be (B, S) int32, got ${src.dtype} ${fmtShape(src.shape)}`);
  const V = model.config.tgtVocabSize;
  for (const key of ['bosId', 'eosId'] as const) {
    const id = o[key];
    if (!(Number.isInteger(id) && id >= 0 && id < V))
      throw new Error(`${what}: ${key} must be an integer in [0, ${V}), got ${id}`);
  }
  if (!(Number.isInteger(o.maxLen) && o.maxLen >= 1))
    throw new Error(`${what}: maxLen must be an integer >= 1, got ${o.maxLen}`);
  if (o.maxLen > model.config.maxLen)
    throw new Error(
      `${what}: maxLen ${o.maxLen} exceeds the model's positional table (config.maxLen ${model.config.maxLen})`,
    );
}

/**
 * The padding id is never generated (as in fairseq's sequence generator): the uncached
 * decoder masks padding keys in the target, so a generated pad would be read differently.
 * Unless pad doubles as eos. Returns -1 when nothing is banned.
 */
function bannedToken(model: Seq2SeqModel, eosId: number): number {
  const pad = model.config.padId;
  return pad === eosId ? -1 : pad;
}

/** Index of the largest value other than `banned` (the lowest index on ties). */
function argmaxExcept(row: Float32Array, banned: number): number {
  let best = -1;
  for (let i = 0; i < row.length; i++) {
    if (i === banned) continue;
    if (best < 0 || row[i] > row[best]) best = i;
  }
  return best;
}

/** Run `fn` in eval mode without gradients, restoring the training flag afterwards. */
function inEval<T>(model: Seq2SeqModel, fn: () => T): T {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(fn);
  } finally {
    model.train(wasTraining);
  }
}

/** Keep rows `idx` of every layer's cache; `self` and/or `cross` parts. */
function selectCaches(
  caches: DecoderLayerCache[],
  idx: readonly number[],
  parts: { self: boolean; cross: boolean },
): void {
  for (const c of caches) {
    if (parts.self) c.self.selectRows(idx);
    if (parts.cross) c.cross.selectRows(idx);
  }
}

/** One decoder step on the last tokens: returns logits or log-probs, flat (N * V). */
function step(
  model: Seq2SeqModel,
  last: readonly number[],
  memory: Tensor,
  srcPadMask: Tensor,
  caches: DecoderLayerCache[],
  offset: number,
  logProbs: boolean,
): Float32Array {
  const ids = tensor(Int32Array.from(last), [last.length, 1], 'int32'); // (N, 1)
  const hidden = model.decode(ids, memory, srcPadMask, caches, offset); // (N, 1, C)
  const logits = model.project(hidden); // (N, 1, V)
  return (logProbs ? F.logSoftmax(logits, -1) : logits).f32;
}

/**
 * Greedy decoding: at each step take the most likely token (the lowest id on ties), until eos
 * or maxLen steps. The model's padId is never chosen (unless it is eosId), as in fairseq.
 * Batched over sources with KV caches (one decoder position per step; the cross-attention
 * keys/values are computed once); a source that emits eos leaves the batch. This collects
 * greedySteps. Runs under noGrad in eval mode (the training flag is restored).
 * @param src (B, S) int32 source ids, padded with the model's padId
 * @returns per source, the generated tokens without bos and without the final eos (at most
 *   maxLen tokens; exactly maxLen only when no eos was produced)
 * @throws Error naming the option when src is not (B, S) int32, bosId/eosId are not target
 *   ids, or maxLen is not an integer in [1, model.config.maxLen].
 */
export function greedyDecode(
  model: Seq2SeqModel,
  src: Tensor,
  opts: Seq2SeqDecodeOptions,
): number[][] {
  const out: number[][] = Array.from({ length: src.shape[0] }, () => []);
  for (const tokens of greedySteps(model, src, opts))
    for (const { source, token } of tokens) out[source].push(token);
  return out;
}

/** One source's new token at a greedy step. */
export interface StepToken {
  /** Index of the source in the batch (row of src). */
  source: number;
  token: number;
}

/**
 * The loop of greedyDecode as a step iterator: each `next()` runs one decoder position for
 * the sources still decoding and yields their new tokens (a source that chose eos yields
 * nothing more; eos itself is not yielded). The iterator ends when every source has ended or
 * after maxLen steps. The model is in eval mode while it runs (the flag is restored when it
 * ends or is returned); each step runs under noGrad.
 * @param src (B, S) int32 source ids, padded with the model's padId
 * @throws Error (at once) as greedyDecode.
 */
export function greedySteps(
  model: Seq2SeqModel,
  src: Tensor,
  opts: Seq2SeqDecodeOptions,
): IterableIterator<StepToken[]> {
  checkOptions(model, src, opts, 'greedyDecode');
  const { bosId, eosId, maxLen } = opts;
  const B = src.shape[0];
  const V = model.config.tgtVocabSize;
  const banned = bannedToken(model, eosId);
  return (function* () {
    const wasTraining = model.training;
    model.eval();
    try {
      let { memory, srcPadMask } = noGrad(() => model.encode(src)); // (B, S, C), (B, S)
      const caches = model.newCaches();
      let active = Array.from({ length: B }, (_, b) => b); // source of each batch row
      let last = active.map(() => bosId);
      for (let t = 0; t < maxLen && active.length > 0; t++) {
        const logits = noGrad(() => step(model, last, memory, srcPadMask, caches, t, false)); // (N * V)
        const keep: number[] = [];
        const next: StepToken[] = [];
        active.forEach((b, r) => {
          const tok = argmaxExcept(logits.subarray(r * V, (r + 1) * V), banned);
          if (tok === eosId) return;
          keep.push(r);
          next.push({ source: b, token: tok });
        });
        if (keep.length < active.length && keep.length > 0) {
          memory = indexSelect0(memory, keep);
          srcPadMask = indexSelect0(srcPadMask, keep);
          selectCaches(caches, keep, { self: true, cross: true });
        }
        active = keep.map((r) => active[r]);
        last = next.map((n) => n.token);
        if (next.length > 0) yield next;
      }
    } finally {
      model.train(wasTraining);
    }
  })();
}

/** Finished hypotheses of one source: the best K, best first (stable on ties). */
class FinishedPool {
  readonly hyps: Hypothesis[] = [];
  constructor(readonly size: number) {}
  add(h: Hypothesis): void {
    let i = this.hyps.length;
    while (i > 0 && this.hyps[i - 1].score < h.score) i--;
    if (i >= this.size) return;
    this.hyps.splice(i, 0, h);
    if (this.hyps.length > this.size) this.hyps.pop();
  }
  /** Score of the worst kept hypothesis when the pool is full, else -Infinity. */
  get threshold(): number {
    return this.hyps.length < this.size ? -Infinity : this.hyps[this.hyps.length - 1].score;
  }
}

/**
 * Beam search (Sutskever et al. 2014; Vaswani et al. 2017, Sec. 6.1 use beam 4 and
 * alpha 0.6) with the GNMT length penalty (Wu et al. 2016, Eq. 14). All B sources and their K
 * beams run as one decoder batch of B*K rows with KV caches; memory and the cross-attention
 * keys/values are expanded to B*K rows once, the self-attention caches are reordered by the
 * selected beams after every step, and finished sources leave the batch.
 *
 * Each step, for every source, the K live beams are extended by their log-softmax and the
 * 2K best (beam, token) candidates are taken by cumulative log-prob (ties: lower beam index,
 * then lower token id; the model's padId is never a candidate unless it is eosId, as in
 * fairseq, but log-probs are not renormalized). In that order, an eos candidate among the
 * first K ranks finishes a hypothesis (score = cumulative log-prob / lp(len), len counting
 * eos); eos beyond rank K is dropped; other candidates become the next live beams until K are
 * chosen. A source keeps its K best finished hypotheses (earlier first on equal scores).
 *
 * Stopping rule (exact; Hugging Face's early_stopping="never"): a source is done when it
 * holds K finished hypotheses and no live beam can still beat the worst of them, i.e.
 * max over live beams of logp / lp(n) <= worst finished score, where logp <= 0 can only fall
 * and n is the most favourable final length (maxLen when alpha > 0, the next length when
 * alpha <= 0); or when no live beam remains. After maxLen steps the live beams of unfinished
 * sources join the pool as unfinished hypotheses (finished: false, normalized by their length).
 * So the returned list is exactly the K best (normalized) among all hypotheses that ended
 * with eos within maxLen steps or reached maxLen, given the beam's pruning.
 * Runs under noGrad in eval mode (the training flag is restored).
 *
 * @param src (B, S) int32 source ids, padded with the model's padId
 * @returns per source, up to K hypotheses sorted best first (at least one)
 * @throws Error naming the option when beamSize is not an integer >= 1, lengthPenalty is not
 *   finite, maxLen is not an integer in [1, model.config.maxLen], bosId/eosId are not target
 *   ids, or src is not (B, S) int32.
 */
export function beamSearch(
  model: Seq2SeqModel,
  src: Tensor,
  opts: BeamSearchOptions,
): Hypothesis[][] {
  checkOptions(model, src, opts, 'beamSearch');
  const { bosId, eosId, maxLen, beamSize: K } = opts;
  const alpha = opts.lengthPenalty ?? 0;
  if (!(Number.isInteger(K) && K >= 1))
    throw new Error(`beamSearch: beamSize must be an integer >= 1, got ${K}`);
  if (!Number.isFinite(alpha))
    throw new Error(`beamSearch: lengthPenalty must be finite, got ${alpha}`);
  const B = src.shape[0];
  const V = model.config.tgtVocabSize;
  const pools = Array.from({ length: B }, () => new FinishedPool(K));
  const banned = bannedToken(model, eosId);
  // Live beams, K per active source (rows b*K .. b*K+K-1 of the batch); dead slots have -Inf.
  let tokens: number[][] = [];
  let scores: number[] = [];
  return inEval(model, () => {
    const enc = model.encode(src); // (B, S, C), (B, S)
    const expand: number[] = [];
    for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) expand.push(b);
    let memory = indexSelect0(enc.memory, expand); // (B*K, S, C)
    let srcPadMask = indexSelect0(enc.srcPadMask, expand); // (B*K, S)
    const caches = model.newCaches();
    let active = Array.from({ length: B }, (_, b) => b);
    for (let i = 0; i < B * K; i++) {
      tokens.push([]);
      // Only the first beam is live at the start, so the K beams do not repeat each other.
      scores.push(i % K === 0 ? 0 : -Infinity);
    }
    for (let t = 0; t < maxLen && active.length > 0; t++) {
      const last = tokens.map((s) => (s.length === 0 ? bosId : s[s.length - 1]));
      const lp = step(model, last, memory, srcPadMask, caches, t, true); // (N * V)
      const parents: number[] = [];
      const nextTokens: number[][] = [];
      const nextScores: number[] = [];
      const keptSources: number[] = [];
      active.forEach((b, a) => {
        const cand = topCandidates(lp, scores, a * K, K, V, 2 * K, banned);
        const pool = pools[b];
        const rows: number[] = [];
        const rowScores: number[] = [];
        const rowTokens: number[][] = [];
        cand.forEach((c, rank) => {
          const row = a * K + c.beam;
          if (c.token === eosId) {
            if (rank < K) {
              const len = tokens[row].length + 1;
              pool.add({
                tokens: tokens[row].slice(),
                score: c.score / gnmtLengthPenalty(len, alpha),
                finished: true,
              });
            }
          } else if (rows.length < K) {
            rows.push(row);
            rowScores.push(c.score);
            rowTokens.push([...tokens[row], c.token]);
          }
        });
        const len = t + 1; // tokens of each live beam after this step
        if (t + 1 === maxLen) {
          rowTokens.forEach((s, i) =>
            pool.add({
              tokens: s,
              score: rowScores[i] / gnmtLengthPenalty(len, alpha),
              finished: false,
            }),
          );
          return;
        }
        if (rows.length === 0) return;
        const best = Math.max(...rowScores);
        const bestLen = alpha > 0 ? maxLen : len + 1;
        if (best / gnmtLengthPenalty(bestLen, alpha) <= pool.threshold) return; // done
        while (rows.length < K) {
          rows.push(a * K); // dead slot: any row of this source, never extended
          rowScores.push(-Infinity);
          rowTokens.push([]);
        }
        keptSources.push(a);
        parents.push(...rows);
        nextScores.push(...rowScores);
        nextTokens.push(...rowTokens);
      });
      if (keptSources.length === 0) break;
      if (keptSources.length < active.length) {
        const keepRows: number[] = [];
        for (const a of keptSources) for (let k = 0; k < K; k++) keepRows.push(a * K + k);
        memory = indexSelect0(memory, keepRows);
        srcPadMask = indexSelect0(srcPadMask, keepRows);
        selectCaches(caches, keepRows, { self: false, cross: true });
      }
      selectCaches(caches, parents, { self: true, cross: false }); // reorder by beam
      active = keptSources.map((a) => active[a]);
      tokens = nextTokens;
      scores = nextScores;
    }
    return pools.map((p) => p.hyps);
  });
}

interface Candidate {
  beam: number;
  token: number;
  score: number;
}

/**
 * The n best finite (beam, token) extensions of K beams by cumulative log-prob, best first;
 * ties go to the lower beam index, then the lower token id.
 * @param lp flat log-probs (N * V); rows start..start+K-1 belong to this source
 */
function topCandidates(
  lp: Float32Array,
  scores: readonly number[],
  start: number,
  K: number,
  V: number,
  n: number,
  banned: number,
): Candidate[] {
  const best: Candidate[] = [];
  const worse = (x: Candidate, y: Candidate): boolean =>
    x.score < y.score ||
    (x.score === y.score && (x.beam > y.beam || (x.beam === y.beam && x.token > y.token)));
  for (let k = 0; k < K; k++) {
    const base = scores[start + k];
    if (base === -Infinity) continue;
    const row = (start + k) * V;
    for (let v = 0; v < V; v++) {
      if (v === banned) continue;
      const c = { beam: k, token: v, score: base + lp[row + v] };
      if (c.score === -Infinity || Number.isNaN(c.score)) continue;
      if (best.length === n && !worse(best[n - 1], c)) continue;
      // Insert c in order (n is small: 2K).
      let i = Math.min(best.length, n - 1);
      if (best.length === n) best.pop();
      while (i > 0 && worse(best[i - 1], c)) i--;
      best.splice(i, 0, c);
    }
  }
  return best;
}
