/**
 * Fine-tuning controls over a model's parameters, by their state-dict names: freezing the
 * embeddings and the bottom K layers, and layer-wise learning-rate decay (Howard & Ruder
 * 2018, "discriminative fine-tuning", ULMFiT Sec. 3.2; as used for BERT by Sun et al. 2019,
 * "How to Fine-Tune BERT for Text Classification?", Sec. 5.3, and ELECTRA, Clark et al.
 * 2020, App. A): with L layers numbered l = 1 (bottom) ... L (top), layer l trains at
 * lr gamma^(L - l), the embeddings at lr gamma^L, everything above the stack (final norm,
 * task head) at lr.
 *
 * Names understood: embeddings `tok_emb.*`, `pos_emb.*` (EncoderClassifier, MaskedLM) and
 * `wte.*`, `wpe.*` (DecoderLM); layers `encoder.layers.{i}.*` and `blocks.layers.{i}.*`
 * (0-based i, so l = i + 1).
 */
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { weightDecayGroups, type ParamGroup } from './optim.js';

const EMBEDDING = /^(tok_emb|pos_emb|wte|wpe)\./;
const LAYER = /^(?:encoder|blocks)\.layers\.(\d+)\./;

/**
 * Where a parameter sits in the stack: 0 for the embeddings, i + 1 for layer i, null above
 * the stack (final norm, heads).
 */
export function stackDepth(name: string): number | null {
  if (EMBEDDING.test(name)) return 0;
  const m = LAYER.exec(name);
  return m ? Number(m[1]) + 1 : null;
}

/**
 * Freeze parameters (requiresGrad false: no gradient, so the optimizer leaves them as they
 * are): the token embedding when `embeddings`, and with `layers` K >= 1 also every
 * embedding and layers 1 ... K.
 * @param numLayers L, to check K. @returns the names frozen.
 * @throws Error naming --freeze-layers when K is not an integer in [0, L].
 */
export function freezeParameters(
  model: Module,
  o: { embeddings?: boolean; layers?: number; numLayers: number },
): string[] {
  const K = o.layers ?? 0;
  if (!Number.isInteger(K) || K < 0 || K > o.numLayers)
    throw new Error(
      `--freeze-layers: must be an integer in [0, ${o.numLayers}] (the model's layers), got ${K}`,
    );
  const frozen: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const depth = stackDepth(name);
    const tokenEmbedding = /^(tok_emb|wte)\./.test(name);
    if ((o.embeddings && tokenEmbedding) || (K > 0 && depth !== null && depth <= K)) {
      p.requiresGrad_(false);
      frozen.push(name);
    }
  }
  return frozen;
}

/**
 * AdamW parameter groups (weightDecayGroups' decay / no-decay split) without the frozen
 * parameters, each split by learning-rate factor: gamma^(L - depth) for the embeddings
 * (depth 0) and layer l (depth l), 1 above the stack (see the file's comment).
 * @param layerLrDecay gamma in (0, 1]; 1 (default) gives every group factor 1.
 * @throws Error naming --layer-lr-decay when gamma is not in (0, 1].
 */
export function fineTuneGroups(
  model: Module,
  weightDecay: number,
  o: { layerLrDecay?: number; numLayers: number },
): ParamGroup[] {
  const gamma = o.layerLrDecay ?? 1;
  if (!(gamma > 0 && gamma <= 1))
    throw new Error(`--layer-lr-decay: must be in (0, 1], got ${gamma}`);
  const depthOf = new Map<Tensor, number | null>(
    model.namedParameters().map(([name, p]) => [p, stackDepth(name)]),
  );
  const out: ParamGroup[] = [];
  for (const g of weightDecayGroups(model, weightDecay)) {
    const byScale = new Map<number, Tensor[]>();
    for (const p of g.params) {
      if (!p.requiresGrad) continue;
      const depth = depthOf.get(p) ?? null;
      const scale = depth === null ? 1 : gamma ** (o.numLayers - depth);
      byScale.set(scale, [...(byScale.get(scale) ?? []), p]);
    }
    for (const [lrScale, params] of byScale)
      out.push({ params, weightDecay: g.weightDecay, lrScale });
  }
  return out;
}
