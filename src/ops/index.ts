/** Typed op front-ends: every op records itself on the autograd tape when needed. */
export * from './elementwise.js';
export * from './functional.js';
export * from './gathered.js';
export * from './matmul.js';
export * from './reduce.js';
export { prepareMask, type RelativeBias } from './attention-mask.js';
export { relativeBiasDense } from './relative-bias.js';
export * from './rnn.js';
export * from './shape.js';
export * from './sparse.js';
export * from './sparse-parts.js';
export { TILED_MIN_SCORES } from './tiled-attention.js';
export type { OpName, OpAttrs } from './spec.js';
