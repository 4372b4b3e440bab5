/**
 * What an export can convert exactly, and the refusal of the rest: each message names the
 * option, the model's value and what the format supports, e.g. "export --format onnx
 * supports attention 'full' only; this model uses 'performer'".
 */
import type { ResolvedBlock } from '../models/config.js';

/** An option a model config holds and the values a format converts exactly. */
type Checked = Pick<ResolvedBlock, 'attention' | 'heads' | 'depth' | 'position'>;

interface Rule {
  option: keyof Checked;
  allowed: readonly string[];
}

const RULES: readonly Rule[] = [
  { option: 'attention', allowed: ['full'] },
  { option: 'heads', allowed: ['standard'] },
  { option: 'depth', allowed: ['fixed'] },
];

/**
 * Refuse a model the export cannot convert exactly.
 * @param format the --format value, for the message
 * @param c the model's resolved config
 * @param positions the `position` values this model kind converts
 * @throws Error naming the option, the model's value and the supported ones.
 */
export function requireExportable(format: string, c: Checked, positions: readonly string[]): void {
  for (const { option, allowed } of [
    ...RULES,
    { option: 'position' as const, allowed: positions },
  ]) {
    const v = String(c[option]);
    if (!allowed.includes(v))
      throw new Error(
        `export --format ${format} supports ${option} ${allowed.map((a) => `'${a}'`).join(' or ')} only; this model uses '${v}'`,
      );
  }
}

/** Why a model class has no export (no Hugging Face architecture computes it). */
const NO_EXPORT: Record<string, string> = {
  TransformerXL:
    'its segment-level memory and relative positions have no Hugging Face decoder equivalent',
  RNNSeq2Seq: 'it is a recurrent encoder-decoder, not a Transformer',
  HierarchicalClassifier: 'it encodes documents chunk by chunk with a second encoder',
};

/** Refuse a model class the format has no conversion for, saying why when known. */
export function unsupportedModel(
  format: string,
  model: string,
  supported: readonly string[],
): Error {
  const why = NO_EXPORT[model] ? `: ${NO_EXPORT[model]}` : '';
  return new Error(
    `export --format ${format} cannot convert model ${model}${why} (supported: ${supported.join(', ')})`,
  );
}
