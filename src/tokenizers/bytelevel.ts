/**
 * Byte-level alphabet of GPT-2 (Radford et al., 2019, `encoder.py` `bytes_to_unicode`), as used
 * by Hugging Face's `ByteLevel` pre-tokenizer and decoder: every byte 0..255 is mapped to one
 * printable Unicode character, so a BPE over these characters can encode any UTF-8 text
 * without an unknown token and decode it back exactly.
 */

/** BYTE_TO_CHAR[b] is the printable character standing for byte b (e.g. 0x20 ' ' -> 'Ġ'). */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Inverse of BYTE_TO_CHAR: printable character -> byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(
  BYTE_TO_CHAR.map((c, b) => [c, b] as const),
);

function buildByteToChar(): string[] {
  const out = new Array<string>(256);
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  }
  return out;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Map text to its byte-level form: UTF-8 bytes, each replaced by its printable character.
 * @param text any string (lone surrogates become U+FFFD, as in UTF-8 encoding).
 * @returns a string with exactly one character per UTF-8 byte of `text`.
 */
export function toByteLevel(text: string): string {
  // UTF-8 encoding written out (TextEncoder per word was the main cost of BPE on large text).
  const B = BYTE_TO_CHAR;
  let s = '';
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      s += B[c];
      continue;
    }
    if (c < 0x800) {
      s += B[0xc0 | (c >> 6)] + B[0x80 | (c & 0x3f)];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        s += B[0xf0 | (cp >> 18)] + B[0x80 | ((cp >> 12) & 0x3f)];
        s += B[0x80 | ((cp >> 6) & 0x3f)] + B[0x80 | (cp & 0x3f)];
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder does
    s += B[0xe0 | (c >> 12)] + B[0x80 | ((c >> 6) & 0x3f)] + B[0x80 | (c & 0x3f)];
  }
  return s;
}

/**
 * Hugging Face `ByteLevel` decoder: concatenate tokens, map each character back to its byte and
 * decode the bytes as UTF-8 (invalid sequences become U+FFFD, like Rust's
 * `String::from_utf8_lossy`). A token holding a character outside the byte alphabet (e.g. an
 * added token such as `你好`) contributes its own UTF-8 bytes unchanged, as in HF.
 * @param tokens token strings in byte-level form.
 * @returns the decoded text.
 */
export function decodeByteLevel(tokens: readonly string[]): string {
  const bytes: number[] = [];
  for (const tok of tokens) {
    const mapped: number[] = [];
    let ok = true;
    for (const ch of tok) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) {
        ok = false;
        break;
      }
      mapped.push(b);
    }
    if (ok) for (const b of mapped) bytes.push(b);
    else for (const b of utf8Encoder.encode(tok)) bytes.push(b);
  }
  return utf8Decoder.decode(new Uint8Array(bytes));
}
