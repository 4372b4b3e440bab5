/**
 * The files of a Hugging Face model directory besides the weights: tokenizer.json (ours, in
 * the form transformers.js reads the same way), tokenizer_config.json, and the writing of a
 * directory (config.json, generation_config.json, onnx/*.onnx ...) with every file written to
 * a temporary name and renamed.
 *
 * transformers.js (@huggingface/tokenizers) reads our tokenizer.json as HF `tokenizers` does,
 * with one difference handled here: its `Whitespace` pre-tokenizer matches `\w` in ASCII only
 * (HF's Rust matches Unicode letters), so it is written as the equivalent `Split` on the same
 * regex (`\w+|[^\w\s]+`, matches kept, the rest removed: what HF's Whitespace does), which
 * both read with Unicode classes.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Tokenizer } from '../tokenizers/index.js';

/** A directory's files: relative path -> JSON object (written pretty-printed), text or bytes. */
export type HfFiles = Record<string, object | Uint8Array | string>;

type Obj = Record<string, unknown>;

/** HF's `Whitespace` pre-tokenizer as the equivalent `Split` (see the module comment). */
const WHITESPACE_AS_SPLIT = {
  type: 'Split',
  pattern: { Regex: '\\w+|[^\\w\\s]+' },
  behavior: 'Removed',
  invert: true,
};

function rewritePreTokenizer(p: unknown): unknown {
  if (!p || typeof p !== 'object') return p;
  const o = p as Obj;
  if (o.type === 'Whitespace') return WHITESPACE_AS_SPLIT;
  if (o.type === 'Sequence' && Array.isArray(o.pretokenizers))
    return { ...o, pretokenizers: o.pretokenizers.map(rewritePreTokenizer) };
  return o;
}

/** Our special tokens' strings, or null where the tokenizer has none. */
function specialStrings(tok: Tokenizer): Record<'pad' | 'bos' | 'eos' | 'unk', string | null> {
  const name = (id: number): string | null => (id >= 0 ? (tok.idToToken(id) ?? null) : null);
  return { pad: name(tok.padId), bos: name(tok.bosId), eos: name(tok.eosId), unk: name(tok.unkId) };
}

/**
 * tokenizer.json and tokenizer_config.json for transformers.js.
 * @param o.prependBos add <bos> before every text (a TemplateProcessing post-processor), as
 *   our classifier's data pipeline does (its [CLS] token)
 * @param o.maxLength model_max_length (the longest input, special tokens included)
 * @throws Error when prependBos is asked of a tokenizer without <bos>.
 */
export function tokenizerFiles(
  tok: Tokenizer,
  o: { prependBos?: boolean; maxLength: number },
): HfFiles {
  const json = tok.toJSON() as Obj;
  const s = specialStrings(tok);
  const out: Obj = { ...json, pre_tokenizer: rewritePreTokenizer(json.pre_tokenizer) };
  if (o.prependBos) {
    if (s.bos === null)
      throw new Error('export: the classifier needs a <bos> token in its tokenizer');
    const bos = { SpecialToken: { id: s.bos, type_id: 0 } };
    const seq = (id: string): object => ({ Sequence: { id, type_id: 0 } });
    out.post_processor = {
      type: 'TemplateProcessing',
      single: [bos, seq('A')],
      pair: [bos, seq('A'), seq('B')],
      special_tokens: { [s.bos]: { id: s.bos, ids: [tok.bosId], tokens: [s.bos] } },
    };
  }
  const config: Obj = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: o.maxLength,
    clean_up_tokenization_spaces: false,
    add_bos_token: false,
    add_eos_token: false,
  };
  for (const [role, str] of Object.entries(s)) if (str !== null) config[`${role}_token`] = str;
  return { 'tokenizer.json': out, 'tokenizer_config.json': config };
}

/** The special token ids a config.json carries (null where the tokenizer has none). */
export function specialIds(tok: Tokenizer): Record<string, number | null> {
  const id = (v: number): number | null => (v >= 0 ? v : null);
  return {
    bos_token_id: id(tok.bosId),
    eos_token_id: id(tok.eosId),
    pad_token_id: id(tok.padId),
  };
}

/**
 * Write a model directory: each file to a temporary name in its folder, then renamed, so a
 * reader never sees half a file.
 * @returns the paths written
 */
export function writeHfDir(out: string, files: HfFiles): string[] {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(files)) {
    const path = join(out, rel);
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    const data =
      content instanceof Uint8Array || typeof content === 'string'
        ? content
        : JSON.stringify(content, null, 2) + '\n';
    writeFileSync(tmp, data);
    renameSync(tmp, path);
    written.push(path);
  }
  return written;
}
