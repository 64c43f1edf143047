// `npm run lesson 3`: a step's lesson (steps/NN-name/README.md), rendered for the terminal.
// Longer than the screen: shown in `less` (q to quit). `--no-pager` prints it straight out.
import { spawnSync } from 'node:child_process'
import { STEPS } from '../lib/steps.ts'
import { parseCommandLine } from '../lib/args.ts'
import { readLesson, runCommand, stepFromArg } from './shared.ts'
import { DEFAULT_WIDTH, renderMarkdown } from './terminal.ts'

export function lessonText(stepArg: string, width = DEFAULT_WIDTH): string {
  return renderMarkdown(readLesson(stepFromArg(stepArg, 'lesson')), width)
}

/** Shows text through `less -R` when it does not fit the terminal; prints it otherwise. */
export function page(text: string, usePager: boolean): void {
  const rows = process.stdout.rows ?? 0
  if (usePager && process.stdout.isTTY && text.split('\n').length > rows - 1) {
    const less = spawnSync('less', ['-R', '-F', '-X'], { input: text, stdio: ['pipe', 'inherit', 'inherit'] })
    if (!less.error) return
  }
  process.stdout.write(text)
}

async function main(args: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandLine(args, { 'no-pager': { type: 'boolean' } }, { positionals: true, usage: 'usage: npm run lesson [STEP] [-- --no-pager]' })
  if (rest.length === 0) {
    console.log('The lessons (read one with `npm run lesson N`):')
    for (const s of STEPS) console.log(`  ${s.number}  ${s.id.padEnd(14)} ${s.summary}`)
    return 0
  }
  const width = Math.min(process.stdout.columns || DEFAULT_WIDTH, DEFAULT_WIDTH)
  page(lessonText(rest[0]!, width), !values['no-pager'])
  return 0
}

if (import.meta.main) await runCommand('lesson', main)
