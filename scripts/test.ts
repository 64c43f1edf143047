// `npm test [-- VITEST_ARGS]`: the type-check (scripts/typecheck.ts), then vitest's suites, e.g.
// `npm test -- test/launcher.test.ts -t windows`. What `npm run typecheck && vitest run` says, without a shell.
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { typecheck } from './typecheck.ts'

const args = process.argv.slice(2)
const help = args.includes('--help') || args.includes('-h')
if (help) console.log('usage: npm test [-- VITEST_ARGS]: the type-check, then `vitest run VITEST_ARGS` (its options below)\n')
else if (typecheck() !== 0) process.exit(1)

// vitest's own command line, in this process: its exit status and its Ctrl-C handling are vitest's.
const vitest = path.resolve(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs')
process.argv = [process.argv[0]!, vitest, 'run', ...args]
await import(pathToFileURL(vitest).href)
