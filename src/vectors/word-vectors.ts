/**
 * Trained word vectors: lookup, nearest neighbours and analogies by cosine similarity, and
 * the files other tools read: word2vec's text format (`V D` then `word v1 ... vD` per line)
 * and binary format (`V D\n`, then per word `word ` and D little-endian float32 and `\n`),
 * which gensim's KeyedVectors.load_word2vec_format and fastText's tools load; and
 * safetensors (tensor `vectors` (V, D), the words in the metadata as a JSON list).
 *
 * Shape letters: V vocabulary, D vector width.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { fromFloat32, readSafetensors, toFloat32, writeSafetensors } from '../io/safetensors.js';

/** One neighbour: the word and its cosine similarity. */
export interface Neighbour {
  word: string;
  similarity: number;
}

export class WordVectors {
  readonly index: ReadonlyMap<string, number>;
  private unit: Float32Array | null = null;

  /**
   * @param words V words; vectors (V * D) row-major float32.
   * @throws Error if the sizes disagree or a word repeats.
   */
  constructor(
    readonly words: readonly string[],
    readonly vectors: Float32Array,
    readonly dim: number,
  ) {
    if (vectors.length !== words.length * dim)
      throw new Error(
        `word vectors: ${vectors.length} values for ${words.length} words of width ${dim}`,
      );
    this.index = new Map(words.map((w, i) => [w, i]));
    if (this.index.size !== words.length) throw new Error('word vectors: a word appears twice');
  }

  /** The vector of a word (a view), or null if unknown. */
  vector(word: string): Float32Array | null {
    const i = this.index.get(word);
    return i === undefined ? null : this.vectors.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /** Rows scaled to unit length (computed once). */
  private normalized(): Float32Array {
    if (this.unit) return this.unit;
    const D = this.dim;
    const u = new Float32Array(this.vectors.length);
    for (let i = 0; i < this.words.length; i++) {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += this.vectors[i * D + d] ** 2;
      const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let d = 0; d < D; d++) u[i * D + d] = this.vectors[i * D + d] * s;
    }
    return (this.unit = u);
  }

  /** The k words whose vectors are most cosine-similar to `query` (D), except `exclude`. */
  nearest(query: Float32Array, k = 10, exclude: ReadonlySet<string> = new Set()): Neighbour[] {
    const D = this.dim;
    const u = this.normalized();
    let qn = 0;
    for (let d = 0; d < D; d++) qn += query[d] ** 2;
    qn = qn > 0 ? 1 / Math.sqrt(qn) : 0;
    const best: Neighbour[] = [];
    for (let i = 0; i < this.words.length; i++) {
      if (exclude.has(this.words[i])) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += u[i * D + d] * query[d];
      const sim = dot * qn;
      if (best.length < k || sim > best[best.length - 1].similarity) {
        best.push({ word: this.words[i], similarity: sim });
        best.sort((a, b) => b.similarity - a.similarity);
        if (best.length > k) best.pop();
      }
    }
    return best;
  }

  /** The k nearest words of `word`. @throws Error naming an unknown word. */
  neighbors(word: string, k = 10): Neighbour[] {
    return this.nearest(this.need(word), k, new Set([word]));
  }

  /**
   * "a is to b as c is to ?" by 3CosAdd (Mikolov et al. 2013c): the words nearest
   * unit(b) - unit(a) + unit(c), excluding a, b and c. @throws Error naming an unknown word.
   */
  analogy(a: string, b: string, c: string, k = 1): Neighbour[] {
    const D = this.dim;
    const u = this.normalized();
    const row = (w: string) => {
      this.need(w);
      const i = this.index.get(w)!;
      return u.subarray(i * D, (i + 1) * D);
    };
    const [va, vb, vc] = [row(a), row(b), row(c)];
    const q = Float32Array.from({ length: D }, (_, d) => vb[d] - va[d] + vc[d]);
    return this.nearest(q, k, new Set([a, b, c]));
  }

  private need(word: string): Float32Array {
    const v = this.vector(word);
    if (!v) throw new Error(`word vectors: '${word}' is not in the vocabulary`);
    return v;
  }

  /** Save as word2vec text, word2vec binary or safetensors (written to a temporary file, then renamed). */
  save(path: string, format: 'text' | 'binary' | 'safetensors'): void {
    if (format === 'safetensors') {
      writeSafetensors(
        path,
        { vectors: fromFloat32(this.vectors, [this.words.length, this.dim]) },
        { format: 'transformer-ts-word-vectors/1', words: JSON.stringify(this.words) },
      );
      return;
    }
    const D = this.dim;
    const head = Buffer.from(`${this.words.length} ${D}\n`);
    const parts: Buffer[] = [head];
    for (let i = 0; i < this.words.length; i++) {
      const v = this.vectors.subarray(i * D, (i + 1) * D);
      if (format === 'text')
        parts.push(
          Buffer.from(`${this.words[i]} ${Array.from(v, (x) => x.toPrecision(7)).join(' ')}\n`),
        );
      else {
        const f = Buffer.alloc(4 * D);
        for (let d = 0; d < D; d++) f.writeFloatLE(v[d], 4 * d);
        parts.push(Buffer.from(`${this.words[i]} `), f, Buffer.from('\n'));
      }
    }
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, Buffer.concat(parts));
    renameSync(tmp, path);
  }

  /**
   * Load word2vec text or binary (detected: binary when the bytes after the header are not
   * text), or our safetensors. @throws Error naming the file and what is malformed.
   */
  static load(path: string): WordVectors {
    const buf = readFileSync(path);
    if (buf.length >= 8 && buf.readBigUInt64LE(0) < BigInt(buf.length) && buf[8] === 0x7b) {
      const { tensors, metadata } = readSafetensors(path);
      const t = tensors.get('vectors');
      if (!t || t.shape.length !== 2) throw new Error(`${path}: no (V, D) tensor 'vectors'`);
      const words = JSON.parse(metadata.words ?? '[]') as string[];
      return new WordVectors(words, toFloat32(t), t.shape[1]);
    }
    const nl = buf.indexOf(0x0a);
    const header = /^(\d+) (\d+)\s*$/.exec(buf.subarray(0, Math.max(nl, 0)).toString('utf8'));
    if (nl < 0 || !header) throw new Error(`${path}: the first line must be 'V D'`);
    const [V, D] = [Number(header[1]), Number(header[2])];
    const words: string[] = [];
    const vec = new Float32Array(V * D);
    let p = nl + 1;
    const binary = V > 0 && buf.length - p === V * (4 * D + 2) + sumWordBytes(buf, p, V, D);
    for (let i = 0; i < V; i++) {
      const sp = buf.indexOf(0x20, p);
      if (binary) {
        if (sp < 0 || sp + 1 + 4 * D > buf.length)
          throw new Error(`${path}: truncated at word ${i}`);
        words.push(buf.subarray(p, sp).toString('utf8'));
        for (let d = 0; d < D; d++) vec[i * D + d] = buf.readFloatLE(sp + 1 + 4 * d);
        p = sp + 1 + 4 * D + 1;
      } else {
        const end = buf.indexOf(0x0a, p);
        const fields = buf
          .subarray(p, end < 0 ? buf.length : end)
          .toString('utf8')
          .trim()
          .split(' ');
        if (fields.length !== D + 1)
          throw new Error(`${path}: line ${i + 2} has ${fields.length - 1} values, expected ${D}`);
        words.push(fields[0]);
        for (let d = 0; d < D; d++) vec[i * D + d] = Number(fields[d + 1]);
        p = end + 1;
      }
    }
    return new WordVectors(words, vec, D);
  }
}

/** The bytes of the V words of a binary file starting at p (-1 when it cannot be one). */
function sumWordBytes(buf: Buffer, p: number, V: number, D: number): number {
  let total = 0;
  for (let i = 0; i < V; i++) {
    const sp = buf.indexOf(0x20, p);
    if (sp < 0) return -1;
    total += sp - p;
    p = sp + 1 + 4 * D + 1;
    if (p > buf.length) return -1;
  }
  return total;
}
