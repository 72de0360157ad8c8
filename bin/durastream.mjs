#!/usr/bin/env node
// The `durastream` command (npx durastream ...): runs the CLI compiled into dist/ by `npm run build`.
import { main } from "../dist/cli/main.js";

await main();
