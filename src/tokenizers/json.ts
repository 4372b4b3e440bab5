/**
 * Reading and writing Hugging Face `tokenizer.json` (the serialization of HF `tokenizers`'
 * `TokenizerImpl`, format version "1.0"). Reads our own files and HF files that use only
 * supported parts: model BPE (no dropout, byte fallback, subword prefix or suffix) or WordLevel;
 * normalizer Lowercase/NFC/NFD/NFKC/NFKD/Sequence; pre-tokenizer ByteLevel/Whitespace/
 * WhitespaceSplit/BertPreTokenizer/Sequence; decoder Fuse/ByteLevel; post-processor ByteLevel;
 * no truncation or padding. Anything else is rejected with an error naming the field and type.
 *
 * Every malformed input gives a TokenizerError naming the file (or `tokenizer.json` for an
 * object), the field and the problem: bytes that are not UTF-8, JSON syntax, ids that are not
 * integers in [0, MAX_VOCAB) or are used twice, `Sequence` nesting deeper than MAX_DEPTH, and
 * unsupported parts.
 */

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { BpeModel, MAX_VOCAB, WordLevelModel, type Model } from './models.js';
import { decodeUtf8Strict } from '../data/utf8.js';
import {
  PipelineTokenizer,
  type AddedToken,
  type PipelineParts,
  type Tokenizer,
} from './tokenizer.js';
import type { NormalizerSpec, PreTokenizerSpec, DecoderSpec } from './pipeline.js';

/** Which token strings play the special roles; by default found by name (see tokenizerFromJSON). */
export interface SpecialRoles {
  pad?: string | null;
  bos?: string | null;
  eos?: string | null;
  unk?: string | null;
}

/** Options of tokenizerFromJSON / loadTokenizer. */
export interface LoadOptions {
  /** Override the token strings of the special roles; null = no such token. */
  specials?: SpecialRoles;
}

/** Deepest nesting of `Sequence` normalizers / pre-tokenizers accepted (HF files use 1 or 2). */
export const MAX_DEPTH = 64;

/**
 * A tokenizer.json that cannot be read. The message is `source: field: detail`, e.g.
 * `model/tokenizer.json: model.vocab: id of 'a' must be an integer in [0, 2097152), got -1`.
 */
export class TokenizerError extends Error {
  /**
   * @param source the file path, or 'tokenizer.json' for a parsed object.
   * @param field the JSON path of the bad part ('' for the file as a whole).
   * @param detail what is wrong.
   */
  constructor(
    readonly source: string,
    readonly field: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(field === '' ? `${source}: ${detail}` : `${source}: ${field}: ${detail}`, options);
    this.name = 'TokenizerError';
  }

  /** The same error, naming another source (the file a parsed object came from). */
  withSource(source: string): TokenizerError {
    return new TokenizerError(source, this.field, this.detail, { cause: this.cause });
  }
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const SOURCE = 'tokenizer.json';

function fail(field: string, msg: string): never {
  throw new TokenizerError(SOURCE, field, msg);
}

/** Run `make` (a model or tokenizer constructor), turning its errors into TokenizerErrors. */
function build<T>(field: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(SOURCE, field, (e as Error).message, { cause: e });
  }
}

/** Check a token id: an integer in [0, MAX_VOCAB) (the BPE pair keys address 2^21 ids). */
function checkId(field: string, tok: string, id: unknown): number {
  if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= MAX_VOCAB) {
    fail(
      field,
      `id of '${preview(tok)}' must be an integer in [0, ${MAX_VOCAB}), got ${preview(JSON.stringify(id) ?? String(id))}`,
    );
  }
  return id as number;
}

/** At most 40 characters of a string, for messages. */
function preview(s: string): string {
  return s.length <= 40 ? s : `${s.slice(0, 40)}... (${s.length} characters)`;
}

function checkDepth(field: string, depth: number): void {
  if (depth > MAX_DEPTH) fail(field, `Sequence nested deeper than ${MAX_DEPTH} levels`);
}

function typeOf(field: string, v: unknown): string {
  if (!isObj(v) || typeof v.type !== 'string') fail(field, 'expected an object with a "type"');
  return v.type;
}

function unsupported(field: string, type: string, known: string): never {
  fail(field, `type '${type}' is not supported (supported: ${known})`);
}

function bool(field: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') fail(field, `expected a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function readNormalizer(field: string, v: unknown, depth = 0): NormalizerSpec | null {
  if (v === null || v === undefined) return null;
  checkDepth(field, depth);
  const type = typeOf(field, v);
  const o = v as Obj;
  switch (type) {
    case 'Lowercase':
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return { type };
    case 'Sequence':
      if (!Array.isArray(o.normalizers)) fail(`${field}.normalizers`, 'expected an array');
      return {
        type,
        normalizers: o.normalizers.map((n, i) =>
          readNormalizer(`${field}.normalizers[${i}]`, n, depth + 1)!,
        ),
      };
    default:
      unsupported(field, type, 'Lowercase, NFC, NFD, NFKC, NFKD, Sequence');
  }
}

function readPreTokenizer(field: string, v: unknown, depth = 0): PreTokenizerSpec | null {
  if (v === null || v === undefined) return null;
  checkDepth(field, depth);
  const type = typeOf(field, v);
  const o = v as Obj;
  switch (type) {
    case 'ByteLevel':
      if (o.prepend_scheme !== undefined && o.prepend_scheme !== null) {
        fail(`${field}.prepend_scheme`, 'is not supported');
      }
      return {
        type,
        add_prefix_space: bool(`${field}.add_prefix_space`, o.add_prefix_space, true),
        trim_offsets: bool(`${field}.trim_offsets`, o.trim_offsets, true),
        use_regex: bool(`${field}.use_regex`, o.use_regex, true),
      };
    case 'Whitespace':
    case 'WhitespaceSplit':
    case 'BertPreTokenizer':
      return { type };
    case 'Sequence':
      if (!Array.isArray(o.pretokenizers)) fail(`${field}.pretokenizers`, 'expected an array');
      return {
        type,
        pretokenizers: o.pretokenizers.map((p, i) =>
          readPreTokenizer(`${field}.pretokenizers[${i}]`, p, depth + 1)!,
        ),
      };
    default:
      unsupported(
        field,
        type,
        'ByteLevel, Whitespace, WhitespaceSplit, BertPreTokenizer, Sequence',
      );
  }
}

function readDecoder(field: string, v: unknown): DecoderSpec | null {
  if (v === null || v === undefined) return null;
  const type = typeOf(field, v);
  const o = v as Obj;
  switch (type) {
    case 'Fuse':
      return { type };
    case 'ByteLevel':
      return {
        type,
        add_prefix_space: bool(`${field}.add_prefix_space`, o.add_prefix_space, true),
        trim_offsets: bool(`${field}.trim_offsets`, o.trim_offsets, true),
        use_regex: bool(`${field}.use_regex`, o.use_regex, true),
      };
    default:
      unsupported(field, type, 'Fuse, ByteLevel (or null: join with spaces)');
  }
}

function readVocab(field: string, v: unknown): Map<string, number> {
  if (!isObj(v)) fail(field, 'expected an object of token -> id');
  const m = new Map<string, number>();
  const byId = new Map<number, string>();
  for (const [tok, value] of Object.entries(v)) {
    const id = checkId(field, tok, value);
    const other = byId.get(id);
    if (other !== undefined)
      fail(field, `'${preview(other)}' and '${preview(tok)}' have the same id ${id}`);
    byId.set(id, tok);
    m.set(tok, id);
  }
  return m;
}

function readMerges(field: string, v: unknown): [string, string][] {
  if (!Array.isArray(v)) fail(field, 'expected an array');
  return v.map((m, i): [string, string] => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) fail(`${field}[${i}]`, `'${m}' is not of the form "a b"`);
      return [parts[0], parts[1]];
    }
    if (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string')) {
      return [m[0], m[1]];
    }
    fail(`${field}[${i}]`, 'expected "a b" or ["a", "b"]');
  });
}

function readModel(v: unknown): Model {
  const type = typeOf('model', v);
  const o = v as Obj;
  const unk = o.unk_token;
  if (unk !== null && unk !== undefined && typeof unk !== 'string') {
    fail('model.unk_token', 'expected a string or null');
  }
  if (type === 'WordLevel') {
    if (typeof unk !== 'string') fail('model.unk_token', 'WordLevel needs an unk_token');
    const vocab = readVocab('model.vocab', o.vocab);
    return build('model', () => new WordLevelModel(vocab, unk));
  }
  if (type !== 'BPE') unsupported('model', type, 'BPE, WordLevel');
  if (o.dropout !== null && o.dropout !== undefined && o.dropout !== 0) {
    fail('model.dropout', 'BPE dropout is not supported');
  }
  for (const f of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    if (o[f] !== null && o[f] !== undefined && o[f] !== '') fail(`model.${f}`, 'is not supported');
  }
  if (bool('model.byte_fallback', o.byte_fallback, false)) {
    fail('model.byte_fallback', 'byte fallback is not supported');
  }
  const vocab = readVocab('model.vocab', o.vocab);
  const merges = readMerges('model.merges', o.merges);
  const opts = {
    unkToken: typeof unk === 'string' ? unk : null,
    fuseUnk: bool('model.fuse_unk', o.fuse_unk, false),
    ignoreMerges: bool('model.ignore_merges', o.ignore_merges, false),
  };
  return build('model', () => new BpeModel(vocab, merges, opts));
}

/**
 * Read added tokens. Ids are checked like vocabulary ids; an added token may share its id only
 * with the vocabulary entry of the same content (as the specials of our files do).
 */
function readAddedTokens(v: unknown, vocab: ReadonlyMap<string, number>): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('added_tokens', 'expected an array');
  const vocabById = new Map<number, string>();
  for (const [tok, id] of vocab) vocabById.set(id, tok);
  const byId = new Map<number, string>();
  const contents = new Set<string>();
  return v.map((t, i): AddedToken => {
    const f = `added_tokens[${i}]`;
    if (!isObj(t) || typeof t.content !== 'string' || t.id === undefined) {
      fail(f, 'expected {id: integer, content: string, ...}');
    }
    if (bool(`${f}.single_word`, t.single_word, false))
      fail(`${f}.single_word`, 'true is not supported');
    const id = checkId(f, t.content, t.id);
    const clash = byId.get(id) ?? vocabById.get(id);
    if (clash !== undefined && clash !== t.content) {
      fail(f, `id ${id} of '${preview(t.content)}' is already the id of '${preview(clash)}'`);
    }
    if (contents.has(t.content)) fail(f, `'${preview(t.content)}' is listed twice`);
    byId.set(id, t.content);
    contents.add(t.content);
    return {
      id,
      content: t.content,
      special: bool(`${f}.special`, t.special, false),
      lstrip: bool(`${f}.lstrip`, t.lstrip, false),
      rstrip: bool(`${f}.rstrip`, t.rstrip, false),
      normalized: bool(`${f}.normalized`, t.normalized, !bool(`${f}.special`, t.special, false)),
    };
  });
}

const ROLE_NAMES = {
  pad: ['<pad>', '[PAD]', '<|pad|>', '<|endoftext|>'],
  bos: ['<bos>', '<s>', '[CLS]', '<|begin_of_text|>', '<|endoftext|>'],
  eos: ['<eos>', '</s>', '[SEP]', '<|end_of_text|>', '<|endoftext|>'],
  unk: ['<unk>', '[UNK]', '<|unk|>'],
} as const;

/**
 * Build a tokenizer from a parsed HF tokenizer.json object.
 *
 * Special roles (tokenizer.json has no field for them) are taken from `opts.specials`, else
 * found by name among the tokens: pad <pad> [PAD] <|pad|> <|endoftext|>; bos <bos> <s> [CLS]
 * <|begin_of_text|> <|endoftext|>; eos <eos> </s> [SEP] <|end_of_text|> <|endoftext|>; unk:
 * the model's unk_token, else <unk> [UNK] <|unk|>. A role with no token gets id -1.
 * Kind: 'word' for WordLevel; 'char' for BPE without merges and pre-tokenizer; else 'bpe'.
 * @param obj the parsed JSON.
 * @param opts see LoadOptions.
 * @returns the tokenizer, encoding like HF `tokenizers` does with add_special_tokens.
 * @throws TokenizerError naming the field for unsupported or malformed parts (e.g.
 *   "tokenizer.json: model: type 'Unigram' is not supported (supported: BPE, WordLevel)"), ids
 *   out of [0, MAX_VOCAB) or used twice, Sequence nesting deeper than MAX_DEPTH; no other
 *   error class escapes.
 */
export function tokenizerFromJSON(obj: unknown, opts: LoadOptions = {}): Tokenizer {
  return build('(root)', () => readTokenizer(obj, opts));
}

function readTokenizer(obj: unknown, opts: LoadOptions): Tokenizer {
  if (!isObj(obj)) fail('(root)', 'expected an object');
  for (const f of ['truncation', 'padding']) {
    if (obj[f] !== null && obj[f] !== undefined) fail(f, 'must be null (not supported)');
  }
  let postProcessor: object | null = null;
  if (obj.post_processor !== null && obj.post_processor !== undefined) {
    const type = typeOf('post_processor', obj.post_processor);
    if (type !== 'ByteLevel') {
      unsupported('post_processor', type, 'ByteLevel or null; use encode({addBos, addEos})');
    }
    postProcessor = obj.post_processor as object;
  }
  const model = readModel(obj.model);
  const preTokenizer = readPreTokenizer('pre_tokenizer', obj.pre_tokenizer);
  const addedTokens = readAddedTokens(obj.added_tokens, model.vocab);
  const known = (t: string): boolean =>
    model.vocab.has(t) || addedTokens.some((a) => a.content === t);
  const find = (names: readonly string[]): string | null => names.find(known) ?? null;
  const s = opts.specials ?? {};
  const modelUnk = model.unkToken;
  const parts: PipelineParts = {
    kind:
      model.type === 'WordLevel'
        ? 'word'
        : model.merges.length === 0 && preTokenizer === null
          ? 'char'
          : 'bpe',
    normalizer: readNormalizer('normalizer', obj.normalizer),
    preTokenizer,
    model,
    decoder: readDecoder('decoder', obj.decoder),
    postProcessor,
    addedTokens,
    specials: {
      pad: s.pad !== undefined ? s.pad : find(ROLE_NAMES.pad),
      bos: s.bos !== undefined ? s.bos : find(ROLE_NAMES.bos),
      eos: s.eos !== undefined ? s.eos : find(ROLE_NAMES.eos),
      unk:
        s.unk !== undefined
          ? s.unk
          : modelUnk !== null && known(modelUnk)
            ? modelUnk
            : find(ROLE_NAMES.unk),
    },
  };
  return build('(special roles)', () => new PipelineTokenizer(parts));
}

/**
 * Read a tokenizer.json file (ours or HF's; see tokenizerFromJSON) as strict UTF-8.
 * Synchronous, as loadModel: the file is read whole before parsing anyway.
 * @param path file path.
 * @throws TokenizerError naming the file if it cannot be read, is not UTF-8 (with the byte
 *   offset), is not JSON, or is malformed or unsupported (with the field; see tokenizerFromJSON).
 */
export function loadTokenizer(path: string, opts: LoadOptions = {}): Tokenizer {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TokenizerError(path, '', `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const text = decodeUtf8Strict(bytes, (detail) => new TokenizerError(path, '', detail));
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(path, '', `not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  try {
    return tokenizerFromJSON(obj, opts);
  } catch (e) {
    throw e instanceof TokenizerError ? e.withSource(path) : e;
  }
}

/**
 * Write a tokenizer as HF tokenizer.json, atomically (write `path.tmp-PID-N`, then rename), so a
 * reader never sees a half-written file. Synchronous, as saveModel.
 * @param tok any tokenizer.
 * @param path destination; its directory must exist.
 */
export function saveTokenizer(tok: Tokenizer, path: string): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    writeFileSync(tmp, JSON.stringify(tok.toJSON(), null, 2) + '\n', 'utf8');
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
    throw e;
  }
}

let tmpCounter = 0;
