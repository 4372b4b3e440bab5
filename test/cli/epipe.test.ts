/**
 * The CLI stops quietly when its reader closes the pipe early (`transformer ... | head`):
 * exit code 0 and no EPIPE stack trace, as Unix tools do.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

test('a closed stdout pipe ends the CLI with exit 0, no EPIPE trace', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'info', '--attention'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Closed before the CLI has started: its first write fails with EPIPE.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/, stderr);
  assert.equal(code, 0);
});
