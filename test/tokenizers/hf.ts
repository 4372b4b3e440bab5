/**
 * Optional access to Hugging Face `tokenizers` (npm package `tokenizers`, the official Node
 * binding of the Rust library), used to cross-check our tokenizer.json files. Dev-only: tests
 * skip the live comparison when the package is not installed.
 */

/** The part of the `tokenizers` API we use. */
export interface HFEncoding {
  getIds(): number[];
  getTokens(): string[];
}
export interface HFTokenizer {
  encode(s: string, pair?: null, opts?: { addSpecialTokens?: boolean }): Promise<HFEncoding>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
  save(path: string, pretty?: boolean): void;
  train(files: string[]): void;
}
export interface HFModule {
  Tokenizer: { fromString(s: string): HFTokenizer; fromFile(path: string): HFTokenizer };
}

/** The HF module, or null with the reason if it cannot be loaded. */
export async function loadHF(): Promise<{ hf: HFModule | null; reason: string }> {
  const name = 'tokenizers'; // a variable, so tsc does not require the package
  try {
    return { hf: (await import(name)) as HFModule, reason: '' };
  } catch (e) {
    return {
      hf: null,
      reason: `npm package 'tokenizers' not installed (${(e as Error).message.split('\n')[0]})`,
    };
  }
}

/** Sentences for cross-checks: non-ASCII, specials in text, whitespace edge cases. */
export const SENTENCES: readonly string[] = [
  'Hello world! Grüße aus Köln: ÄÖÜäöüß.',
  '你好世界，今天天气很好。',
  'emoji 👍🏽🦄 and family 👨‍👩‍👧 ok',
  '  leading spaces, trailing   \n\ttabs\r\nCRLF  ',
  "I'm here, it's fine — we'll see; they've, you'd, I'll.",
  'special <bos>inside<eos> text <pad><unk> <|endoftext|>end',
  'weird space\u00a0nbsp\u0085nel\ufeffbom\u3000ideo a\u0085\u0085b a\ufeff\ufeffb',
  'ΟΔΟΣ İstanbul ǅ Straße',
  'numbers 1234567 ½ ² ٣ 3.14',
  '',
  'zzz qqq unseen: ŁĦ ☃ \u{10FFFF}',
  'the quick brown fox jumps over the lazy dog',
  'x\u0085y x\ufeffy x\u0085\u0085 y\ufeff\ufeff z , x\u2028y x  \u00a0 z',
  'ΟΔΟΣ οδος Οδός İ x',
];

/** Training corpus for our tokenizers in the cross-checks (deterministic, multilingual). */
export function corpus(): string[] {
  const base = [
    'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.',
    'Der schnelle braune Fuchs springt über den faulen Hund. Äpfel, Öl, Übermut, süß! Grüße.',
    '你好世界，今天天气很好。我们明天见。世界很大。',
    "I'm here, it's fine — we'll see 👍🏽🦄 2024-01-01. They've gone; you'd know.",
    'Hello hello HELLO world, world! Straße und Strasse. ÄÖÜ äöü ß.',
    '  indented line\n\ttabbed line\r\nwindows line  \n',
    'ΟΔΟΣ οδος οδοσ Οδός x y z',
  ];
  const out: string[] = [];
  for (let i = 0; i < 20; i++) out.push(...base.map((s) => (i % 3 === 0 ? s.toLowerCase() : s)));
  return out;
}
