#!/usr/bin/env node
// The `transformer` command: the compiled CLI in dist/ (built by `npm ci`).
import '../dist/cli/main.js';
