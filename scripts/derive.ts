// Writes every step's starter (steps/NN/*.ts) and solution (solutions/NN/*.ts) from engine/all-steps/ (lib/derive.ts).
//
//   npm run derive            write them all
//   npm run derive -- --check exit 1 and list what differs, writing nothing (a test runs this)
import { UsageError, parseCommandLine } from '../lib/args.ts'
import { formatError } from '../lib/errors.ts'
import { STEPS, findStep } from '../lib/steps.ts'
import { findDrift, writeStep } from '../lib/derive.ts'

if (import.meta.main) {
  try {
    const { values, positionals } = parseCommandLine(process.argv.slice(2), { check: { type: 'boolean' } }, { positionals: true, usage: 'usage: npm run derive [-- --check] [STEP...]' })
    const steps = positionals.length ? positionals.map((a) => findStep(a) ?? fail(`unknown step ${JSON.stringify(a)}`)) : STEPS
    if (values.check) {
      const drift = findDrift(steps)
      if (drift.length) {
        console.error(`These generated files do not match engine/all-steps (run \`npm run derive\`):\n  ${drift.join('\n  ')}`)
        process.exit(1)
      }
      console.log(`derive: steps/ and solutions/ match engine/all-steps (${steps.length} steps)`)
    } else {
      for (const step of steps) for (const kind of ['steps', 'solutions'] as const) writeStep(step, kind)
      console.log(`derive: wrote steps/ and solutions/ for ${steps.map((s) => s.id).join(', ')}`)
    }
  } catch (error) {
    console.error(formatError('derive', error))
    process.exit(2)
  }
}

function fail(message: string): never {
  throw new UsageError(message)
}
