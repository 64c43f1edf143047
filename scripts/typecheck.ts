// `npm run typecheck`: tsc over the whole project (tsconfig.json), writing nothing; one line when it passes.
// Extra arguments go to tsc (`npm run typecheck -- --watch`). `npm test` runs it first (scripts/test.ts).
import { spawnSync } from 'node:child_process'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '..')

/** Runs tsc; its exit status (1 when a signal ended it). */
export function typecheck(extraArgs: string[] = []): number {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', ROOT, ...extraArgs], { stdio: 'inherit' })
  if (result.error) {
    console.error(`typecheck: could not run tsc (${result.error.message})`)
    return 1
  }
  if (result.status === 0 && extraArgs.length === 0) console.log('typecheck: ok')
  return result.status ?? 1
}

if (import.meta.main) process.exitCode = typecheck(process.argv.slice(2))
