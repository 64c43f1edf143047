// For maintainers: refreshes the checker transcripts in the lessons (steps/NN/README.md) with
// real runs, so the lessons show what the checker prints today.
//
//   sh bin/node learner/transcripts.ts [STEP...]      (as root, with the rootfs installed)
//
// In a lesson, a transcript is the code block right after a marker line:
//   <!-- check-transcript starter -->     `npm run check step-NN` on the starter (it fails)
//   <!-- check-transcript solution -->    `npm run check step-NN -- --solution` (it passes)
// The starter's transcript keeps its first failure whole and cuts the details of the others
// ("    ..."). Progress is not recorded.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT, STEPS, type Step } from '../lib/steps.ts'
import { parseCommandLine } from '../lib/args.ts'
import { lessonFile, runCommand, stepFromArg } from './shared.ts'

const MARKER = /(<!-- check-transcript (starter|solution) -->\n```\n)([\s\S]*?)(\n```)/g

/** Keeps the first failure's details, cuts the others' to "    ...". */
export function trimTranscript(text: string): string {
  const out: string[] = []
  let failures = 0
  let skipping = false
  for (const line of text.replace(/\n+$/, '').split('\n')) {
    if (!line.startsWith('    ')) {
      skipping = false
      if (line.startsWith('✘') && ++failures > 1) {
        out.push(line, '    ...')
        skipping = true
        continue
      }
      out.push(line)
    } else if (!skipping) {
      out.push(line)
    }
  }
  return out.join('\n')
}

function check(step: Step, solution: boolean): string {
  const progress = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mc-transcript-')), 'progress.json')
  const args = ['checker/main.ts', step.id, ...(solution ? ['--solution'] : [])]
  const result = spawnSync(process.execPath, args, {
    cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 600_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', MINICONTAINER_PROGRESS: progress },
  })
  fs.rmSync(path.dirname(progress), { recursive: true, force: true })
  const text = `${result.stdout}${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '')
  const passed = /\b0 failed\b/.test(text)
  if (solution !== passed) throw new Error(`${step.id}: the ${solution ? 'solution should pass' : 'starter should fail'}, got:\n${text}`)
  return solution ? text.replace(/\n+$/, '') : trimTranscript(text)
}

export function refresh(step: Step): number {
  const file = lessonFile(step)
  const lesson = fs.readFileSync(file, 'utf8')
  const cache = new Map<string, string>()
  let count = 0
  const updated = lesson.replace(MARKER, (_all, head: string, kind: string, _old: string, tail: string) => {
    count++
    if (!cache.has(kind)) cache.set(kind, check(step, kind === 'solution'))
    return head + cache.get(kind)! + tail
  })
  fs.writeFileSync(file, updated)
  return count
}

async function main(args: string[]): Promise<number> {
  const { positionals } = parseCommandLine(args, {}, { positionals: true, usage: 'usage: sh bin/node learner/transcripts.ts [STEP...]' })
  const steps = positionals.length ? positionals.map((a) => stepFromArg(a, 'transcripts')) : STEPS
  for (const step of steps) console.log(`transcripts: ${step.id}: ${refresh(step)} transcript(s) refreshed`)
  return 0
}

if (import.meta.main) await runCommand('transcripts', main)
