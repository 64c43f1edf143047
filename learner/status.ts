// `npm run status`: per step, whether its last check passed, the TODO the learner is on, and the hint levels used
// (from the progress file that `npm run check` and `npm run hint` keep: .minicontainer/progress.json).
import kleur from 'kleur'
import { STEPS, type Step } from '../lib/steps.ts'
import { todosOf } from './course.ts'
import { readProgress, type StepProgress } from './progress.ts'
import { parseCommandLine } from '../lib/args.ts'
import { runCommand } from './shared.ts'

/** "solved without hints", "hints: 03.1 level 1, 03.2 level 3 (the code)". */
export function hintSummary(step: Step, p: StepProgress | undefined): string {
  const levels = Object.entries(p?.hintLevels ?? {}).filter(([id]) => todosOf(step).some((t) => t.id === id))
  if (levels.length === 0) return p?.passed ? 'solved without hints' : ''
  return 'hints: ' + levels.sort(([a], [b]) => a.localeCompare(b)).map(([id, level]) => `${id} level ${level}${level === 3 ? ' (the code)' : ''}`).join(', ')
}

export function statusLines(progress = readProgress()): string[] {
  const lines: string[] = []
  let next: Step | undefined
  for (const step of STEPS) {
    const p = progress.steps[step.id]
    const n = String(step.number).padStart(2, '0')
    let mark: string
    let note: string
    if (!p?.checkedAt) {
      mark = kleur.dim('·')
      note = kleur.dim('not checked yet')
    } else if (p.passed) {
      mark = kleur.green('✔')
      note = kleur.dim(`passed (checked ${p.checkedAt.slice(0, 16).replace('T', ' ')})`)
    } else {
      mark = kleur.red('✘')
      note = `${p.failed.length} check${p.failed.length === 1 ? '' : 's'} failing (${p.failed.slice(0, 3).join(', ')}${p.failed.length > 3 ? ', ...' : ''})` +
        (p.todo ? `: on TODO(${p.todo})` : '') + (p.everPassed ? kleur.yellow(' (it passed before: a later edit broke it)') : '')
    }
    const hints = hintSummary(step, p)
    if (!p?.passed && !next) next = step
    lines.push(`${mark} ${n} ${step.title.padEnd(24)} ${note}${hints ? kleur.cyan(` · ${hints}`) : ''}`)
  }
  lines.push(next ? `Next: steps/${next.id}/README.md, then npm run check ${next.number}` : kleur.green('Every step passes. Well done!'))
  return lines
}

if (import.meta.main) {
  await runCommand('status', (args) => {
    parseCommandLine(args, {}, { usage: 'usage: npm run status' })
    for (const line of statusLines()) console.log(line)
  })
}
