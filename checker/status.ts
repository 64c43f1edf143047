// `npm run status`: which steps pass, from the progress file the checker keeps (.minicontainer/progress.json).
import kleur from 'kleur'
import { STEPS } from '../lib/steps.ts'
import { progressFile, readProgress } from './progress.ts'

const progress = readProgress()
let next: string | undefined
for (const step of STEPS) {
  const p = progress.steps[step.id]
  const n = String(step.number).padStart(2, '0')
  let mark: string
  let note: string
  if (!p) {
    mark = kleur.dim('·')
    note = kleur.dim('not checked yet')
  } else if (p.passed) {
    mark = kleur.green('✔')
    note = kleur.dim(`passed (checked ${p.checkedAt.slice(0, 16).replace('T', ' ')})`)
  } else {
    mark = kleur.red('✘')
    note = `${p.failed.length} check${p.failed.length === 1 ? '' : 's'} failing: ${p.failed.slice(0, 4).join(', ')}${p.failed.length > 4 ? ', ...' : ''}` + (p.everPassed ? kleur.yellow(' (it passed before: a later edit broke it)') : '')
  }
  if (!p?.passed && !next) next = step.id
  console.log(`${mark} ${n} ${step.title.padEnd(24)} ${note}`)
}
console.log(
  next
    ? `Next: steps/${next}/README.md, then npm run check ${Number(next.slice(0, 2))}`
    : kleur.green('Every step passes. Well done!'),
)
if (process.env.MINICONTAINER_VERBOSE) console.log(kleur.dim(`(from ${progressFile()})`))
