#!/usr/bin/env node
// The `transformer` command. Runs the compiled CLI from dist/ (built by `npm ci`).
import process from 'node:process';

const { main } = await import('../dist/cli/index.js');
await main(process.argv.slice(2));
