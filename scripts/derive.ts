// Writes every step's starter (steps/NN/*.ts) and solution (solutions/NN/*.ts) from engine/all-steps/ (lib/derive.ts).
//
//   npm run derive            write them all
//   npm run derive -- --check exit 1 and list what differs, writing nothing (a test runs this)
import { STEPS, findStep } from '../lib/steps.ts'
import { findDrift, writeStep } from '../lib/derive.ts'

if (import.meta.main) {
  const args = process.argv.slice(2)
  const only = args.filter((a) => !a.startsWith('--')).map((a) => {
    const step = findStep(a)
    if (!step) { console.error(`derive: unknown step ${JSON.stringify(a)}`); process.exit(2) }
    return step
  })
  const steps = only.length ? only : STEPS
  if (args.includes('--check')) {
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
}
