/**
 * Initialize a model's token embedding from word vectors (issue #18, `--init-embeddings`):
 * each row whose token is a word of the vectors file gets that word's vector; the other
 * rows keep their random initialization. Pre-trained word embeddings as the input layer of
 * a neural classifier: Kim 2014 ("Convolutional Neural Networks for Sentence
 * Classification", Sec. 3, "CNN-static / non-static"), Collobert et al. 2011.
 *
 * A token matches a word by its text: the token decoded on its own (a byte-level BPE
 * token `Ġword` decodes to ` word`), without surrounding white space; failing that, its
 * lowercase form (vectors trained with --lowercase). Special tokens are never initialized.
 *
 * Shape letters: V vocabulary (rows), C d_model (the vectors' dimension D must equal it).
 */
import type { Tensor } from '../tensor.js';
import type { Tokenizer } from '../tokenizers/index.js';
import type { WordVectors } from './word-vectors.js';

/** What initEmbeddingRows did. */
export interface EmbeddingInit {
  /** Rows set from the vectors. */
  initialized: number;
  /** All rows (V). */
  rows: number;
  /** For each initialized row: the token id and the word whose vector it got. */
  matches: { id: number; word: string }[];
}

/**
 * Copy the vectors of matching words into the rows of a (V, C) token embedding, in place.
 * @param weight (V, C) float32, e.g. EncoderClassifier.tokEmb.weight
 * @param where the option named in errors (default --init-embeddings).
 * @throws Error naming `where` and both dimensions when D != C, or the row count when the
 *   embedding has fewer rows than the tokenizer's vocabulary.
 */
export function initEmbeddingRows(
  weight: Tensor,
  tokenizer: Tokenizer,
  vectors: WordVectors,
  where = '--init-embeddings',
): EmbeddingInit {
  const [V, C] = weight.shape;
  if (vectors.dim !== C)
    throw new Error(
      `${where}: the vectors have dimension ${vectors.dim} but the model's token embedding has width d_model ${C} (train vectors with --dim ${C}, or set --config {"dModel": ${vectors.dim}} with a head count dividing it)`,
    );
  if (V < tokenizer.vocabSize)
    throw new Error(
      `${where}: the embedding has ${V} rows for a vocabulary of ${tokenizer.vocabSize}`,
    );
  const specials = new Set([tokenizer.padId, tokenizer.bosId, tokenizer.eosId, tokenizer.unkId]);
  const matches: { id: number; word: string }[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (specials.has(id)) continue;
    const text = tokenizer.decode([id]).trim();
    if (text === '') continue;
    const word = vectors.index.has(text) ? text : text.toLowerCase();
    const v = vectors.vector(word);
    if (!v) continue;
    weight.f32.set(v, id * C);
    matches.push({ id, word });
  }
  return { initialized: matches.length, rows: V, matches };
}
