/** Process entry point: runs the command line with this process's arguments. */
import { run } from './cli/index.js';

await run(process.argv.slice(2));
