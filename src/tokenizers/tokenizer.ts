/**
 * The tokenizer pipeline shared by the character-, word- and BPE tokenizers, in the order of
 * Hugging Face `tokenizers` (`TokenizerImpl::encode`): split out added (special) tokens from the
 * raw text, normalize the rest, pre-tokenize into words, run the model on each word; then our
 * own optional <bos>/<eos>. Decoding maps ids to tokens, drops specials if asked, and runs the
 * decoder (see pipeline.ts).
 */

import type { Model } from './models.js';
import {
  normalize,
  preTokenize,
  decodeTokens,
  type NormalizerSpec,
  type PreTokenizerSpec,
  type DecoderSpec,
} from './pipeline.js';

/** Default special tokens and their ids in tokenizers trained here. */
export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const UNK = '<unk>';
export const DEFAULT_SPECIALS: readonly string[] = [PAD, BOS, EOS, UNK]; // ids 0, 1, 2, 3

/** Options of `encode`. */
export interface EncodeOptions {
  /** Prepend the <bos> id. Default false. Throws if the tokenizer has no <bos>. */
  addBos?: boolean;
  /** Append the <eos> id. Default false. Throws if the tokenizer has no <eos>. */
  addEos?: boolean;
  /**
   * Called for each piece of text that has no token of its own: a character missing from a
   * char/BPE vocabulary (encoded as <unk>, or dropped if the model has no unk token) or a word
   * missing from a word-level vocabulary (encoded as <unk>). See encodeChecked in unknown.ts.
   */
  onUnknown?: (piece: string) => void;
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Drop ids of special added tokens (HF `skip_special_tokens`). Default false. */
  skipSpecial?: boolean;
}

/** The common interface of all tokenizers. */
export interface Tokenizer {
  /** 'char' (BPE without merges or pre-tokenizer), 'word' (WordLevel) or 'bpe'. */
  readonly kind: 'char' | 'word' | 'bpe';
  /** 1 + the largest token id: the size of an embedding table for this tokenizer. */
  readonly vocabSize: number;
  /** Ids of the special tokens, -1 where the tokenizer has none. */
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Text -> token ids (the same ids as HF `tokenizers` for the same tokenizer.json). */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Token ids -> text. Exact inverse for 'char' and 'bpe'; see WordLevel note in word.ts. */
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /** Token string -> id (added tokens first, then the model vocabulary). */
  tokenToId(tok: string): number | undefined;
  /** Id -> token string (added tokens first, then the model vocabulary). */
  idToToken(id: number): string | undefined;
  /** The Hugging Face tokenizer.json object. */
  toJSON(): object;
}

/** An HF added token (the `added_tokens` entries of tokenizer.json). */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  /** Absorb whitespace to the left / right of a match. */
  lstrip: boolean;
  rstrip: boolean;
  /** Match on the normalized text (true) or the raw text (false). */
  normalized: boolean;
}

/** Everything a PipelineTokenizer is made of. */
export interface PipelineParts {
  kind: 'char' | 'word' | 'bpe';
  normalizer: NormalizerSpec | null;
  preTokenizer: PreTokenizerSpec | null;
  model: Model;
  decoder: DecoderSpec | null;
  /** A ByteLevel post-processor only changes offsets, so it is kept for toJSON and ignored. */
  postProcessor: object | null;
  addedTokens: readonly AddedToken[];
  /** Token strings of the special roles; null where the tokenizer has no such token. */
  specials: { pad: string | null; bos: string | null; eos: string | null; unk: string | null };
}

const isSpace = /^\p{White_Space}$/u;

/** A tokenizer assembled from HF pipeline parts; all three kinds are instances of it. */
export class PipelineTokenizer implements Tokenizer {
  readonly kind: 'char' | 'word' | 'bpe';
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly parts: PipelineParts;
  private readonly idToTok = new Map<number, string>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly specialIds = new Set<number>();
  /** first character -> added tokens starting with it, longest first; raw / normalized. */
  private readonly rawIndex = new Map<string, AddedToken[]>();
  private readonly normIndex = new Map<string, AddedToken[]>();

  /**
   * @param parts the pipeline (see PipelineParts).
   * @throws Error if a special role names a token that has no id.
   */
  constructor(parts: PipelineParts) {
    this.parts = parts;
    this.kind = parts.kind;
    let maxId = -1;
    for (const [tok, id] of parts.model.vocab) {
      this.idToTok.set(id, tok);
      maxId = Math.max(maxId, id);
    }
    for (const t of parts.addedTokens) {
      this.idToTok.set(t.id, t.content);
      this.addedByContent.set(t.content, t);
      if (t.special) this.specialIds.add(t.id);
      maxId = Math.max(maxId, t.id);
      if (t.content === '') continue;
      const index = t.normalized && parts.normalizer !== null ? this.normIndex : this.rawIndex;
      const first = String.fromCodePoint(t.content.codePointAt(0)!);
      const list = index.get(first) ?? [];
      list.push(t);
      list.sort((x, y) => y.content.length - x.content.length);
      index.set(first, list);
    }
    this.vocabSize = maxId + 1;
    const role = (name: string, tok: string | null): number => {
      if (tok === null) return -1;
      const id = this.tokenToId(tok);
      if (id === undefined) throw new Error(`tokenizer: ${name} token '${tok}' has no id`);
      return id;
    };
    this.padId = role('pad', parts.specials.pad);
    this.bosId = role('bos', parts.specials.bos);
    this.eosId = role('eos', parts.specials.eos);
    this.unkId = role('unk', parts.specials.unk);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (opts.addBos) ids.push(this.requireRole(this.bosId, 'bos'));
    for (const seg of splitAdded(text, this.rawIndex)) {
      if (typeof seg !== 'string') {
        ids.push(seg.id);
        continue;
      }
      for (const sub of splitAdded(normalize(this.parts.normalizer, seg), this.normIndex)) {
        if (typeof sub !== 'string') ids.push(sub.id);
        else
          for (const w of preTokenize(this.parts.preTokenizer, sub)) {
            // A loop, not push(...): without a pre-tokenizer (char level) one piece can be
            // the whole text, too many arguments for a spread.
            for (const id of this.parts.model.tokenize(w, opts.onUnknown)) ids.push(id);
          }
      }
    }
    if (opts.addEos) ids.push(this.requireRole(this.eosId, 'eos'));
    return ids;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const toks: string[] = [];
    for (const id of ids) {
      if (opts.skipSpecial && this.specialIds.has(id)) continue;
      const t = this.idToTok.get(id);
      if (t === undefined) throw new RangeError(`decode: id ${id} is not in the vocabulary`);
      toks.push(t);
    }
    return decodeTokens(this.parts.decoder, toks);
  }

  tokenToId(tok: string): number | undefined {
    return this.addedByContent.get(tok)?.id ?? this.parts.model.vocab.get(tok);
  }

  idToToken(id: number): string | undefined {
    return this.idToTok.get(id);
  }

  /** True if `id` is a special added token. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  toJSON(): object {
    return toHFJSON(this.parts);
  }

  private requireRole(id: number, name: string): number {
    if (id < 0)
      throw new Error(
        `encode: add${name === 'bos' ? 'Bos' : 'Eos'} needs a <${name}> token, and this tokenizer has none`,
      );
    return id;
  }
}

/**
 * Split text around added tokens: leftmost match, longest at a position (HF `AddedVocabulary`,
 * an Aho-Corasick leftmost-longest search). `lstrip`/`rstrip` tokens absorb adjacent whitespace.
 * @returns strings (text between matches, never empty) and the matched tokens, in order.
 */
export function splitAdded(
  text: string,
  index: ReadonlyMap<string, AddedToken[]>,
): (string | AddedToken)[] {
  if (index.size === 0) return text === '' ? [] : [text];
  const out: (string | AddedToken)[] = [];
  const firsts = firstCharRegExp(index);
  let start = 0; // start of pending plain text
  let i = 0;
  while (i < text.length) {
    firsts.lastIndex = i; // jump to the next character that starts an added token
    const m = firsts.exec(text);
    if (m === null) break;
    i = m.index;
    const hit = index.get(m[0])?.find((t) => text.startsWith(t.content, i));
    if (hit === undefined) {
      i += m[0].length;
      continue;
    }
    let left = i;
    if (hit.lstrip) while (left > start && isSpace.test(text[left - 1])) left--;
    let right = i + hit.content.length;
    if (hit.rstrip) while (right < text.length && isSpace.test(text[right])) right++;
    if (left > start) out.push(text.slice(start, left));
    out.push(hit);
    start = i = right;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

const firstCharCache = new WeakMap<ReadonlyMap<string, AddedToken[]>, RegExp>();

/** A global RegExp matching any first character of the index's tokens (cached). */
function firstCharRegExp(index: ReadonlyMap<string, AddedToken[]>): RegExp {
  let re = firstCharCache.get(index);
  if (re === undefined) {
    const alts = [...index.keys()].map((c) => c.replace(/[\^$\\.*+?()[\]{}|/]/g, '\\$&'));
    re = new RegExp(alts.join('|'), 'gu');
    firstCharCache.set(index, re);
  }
  return re;
}

/** Serialize pipeline parts as an HF tokenizer.json object (merges as "a b" strings). */
export function toHFJSON(p: PipelineParts): object {
  const m = p.model;
  const vocab = Object.fromEntries([...m.vocab].sort((x, y) => x[1] - y[1]));
  const model =
    m.type === 'BPE'
      ? {
          type: 'BPE',
          dropout: null,
          unk_token: m.unkToken,
          continuing_subword_prefix: null,
          end_of_word_suffix: null,
          fuse_unk: m.fuseUnk,
          byte_fallback: false,
          ignore_merges: m.ignoreMerges,
          vocab,
          merges: m.merges.map(([a, b]) =>
            a.includes(' ') || b.includes(' ') ? [a, b] : `${a} ${b}`,
          ),
        }
      : { type: 'WordLevel', vocab, unk_token: m.unkToken };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: p.addedTokens.map((t) => ({
      id: t.id,
      content: t.content,
      single_word: false,
      lstrip: t.lstrip,
      rstrip: t.rstrip,
      normalized: t.normalized,
      special: t.special,
    })),
    normalizer: p.normalizer,
    pre_tokenizer: p.preTokenizer,
    post_processor: p.postProcessor,
    decoder: p.decoder,
    model,
  };
}

/** The four default specials as HF added tokens with ids 0..3. */
export function defaultAddedTokens(): AddedToken[] {
  return DEFAULT_SPECIALS.map((content, id) => ({
    id,
    content,
    special: true,
    lstrip: false,
    rstrip: false,
    normalized: false,
  }));
}
