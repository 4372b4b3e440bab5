/** Attention cores (the seam between the projections and W_O) and their registry. */
export * from './core.js';
export * from './state.js';
export { attention, causalBias, ReferenceAttention } from './reference.js';
export type { ReferenceOptions } from './reference.js';
export { FullAttention } from './full.js';
export { LocalAttention, bandBias, inWindow } from './local.js';
export { LSHAttention } from './lsh.js';
export { RoutingAttention } from './routing.js';
export { SELF_SCORE, TaggedKVState, gatheredAttention, type GatherPlan } from './gathered.js';
export * from './registry.js';
export { TalkingHeadsAttention } from './talking-heads.js';
export { SparsePatternCore, buildPattern, patternBias, patternVariant } from './sparse.js';
export type { RowKeys, PatternVariantSpec } from './sparse.js';
export * from './positions.js';
export * from './heads.js';
export * from './spec.js';
export {
  LinearState,
  LinearizedCore,
  linearAttention,
  causalLinearAttention,
} from './linear-state.js';
export { LinearAttention, eluPlusOne } from './linear.js';
export { PerformerAttention, orthogonalGaussian } from './performer.js';
export { MemoryCompressedAttention, slotBias } from './compressed.js';
export { InducedPointAttention } from './induced.js';
export { ClusteredAttention, kmeans } from './clustered.js';
export { LinformerAttention } from './linformer.js';
export { keyBias, keyKeep } from './key-mask.js';
