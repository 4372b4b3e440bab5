/**
 * Tiny trained model directories for the server tests (tinyModels, shared with the CLI tests),
 * a server-sent-events reader, and the fixture sentence a short training translates longest.
 */
import type { Translator } from '../../src/index.js';

export { tinyModels } from '../cli/in-process.js';

/** The events of a text/event-stream body: { event, data (parsed JSON) }. */
export function parseEvents(body: string): { event: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((block) => {
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

/**
 * The source of the fixture's sentences whose greedy translation is longest, with it (a model
 * trained a few steps may stop at once on some).
 */
export function longestGreedy(tr: Translator, maxLen: number): [string, string] {
  return ['ich bin hier', 'du bist da', 'wir sind hier', 'er ist da']
    .map((s): [string, string] => [s, tr.translate([s], { beam: 1, maxLen })[0]])
    .sort((a, b) => b[1].length - a[1].length)[0];
}
