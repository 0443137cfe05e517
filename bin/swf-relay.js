#!/usr/bin/env node
// Entry point of the `swf-relay` command: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('swf-relay: not built yet; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}
await import(main.href);
