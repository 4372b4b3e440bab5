#!/usr/bin/env node
// The `transformer` command. Runs the compiled CLI from dist/ (built by `npm ci`).
import('../dist/cli/index.js').then((m) => m.main(process.argv.slice(2)));
