/** Entry point for running the CLI from source (`node --import tsx src/cli/main.ts ...`). */
import { main } from './index.js';

await main(process.argv.slice(2));
