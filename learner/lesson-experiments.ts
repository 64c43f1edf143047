// The experiments of a lesson are written once, in the step's hints file (learner/hints/NN-name.ts): the lesson
// shows what to try and the question to answer first, between two marker lines; the answer stays behind
// `npm run hint N -- --experiment ID`. This fills the lessons in (a test fails when one is out of date):
//
//   sh bin/node learner/lesson-experiments.ts [STEP...]
import fs from 'node:fs'
import { STEPS, type Step } from '../lib/steps.ts'
import { parseCommandLine } from '../lib/args.ts'
import { experimentsOf } from './course.ts'
import { lessonFile, runCommand, stepFromArg } from './shared.ts'

const BLOCK = /(<!-- experiments -->\n)[\s\S]*?(<!-- \/experiments -->)/

/** The Markdown a lesson shows for its step's experiments: what to try and what to predict, not the answer. */
export function experimentsMarkdown(step: Step): string {
  return experimentsOf(step)
    .map((e) => [`### ${e.id}: ${e.title}`, '', `**Try.** ${e.try}`, '', `**Predict.** ${e.predict}`, '', `The answer: \`npm run hint ${step.number} -- --experiment ${e.id}\``, ''].join('\n'))
    .join('\n')
}

/** The lesson with its experiments block filled in from the hints file; undefined when it has no block. */
export function withExperiments(step: Step, lesson: string): string | undefined {
  if (!BLOCK.test(lesson)) return undefined
  return lesson.replace(BLOCK, (_all, open: string, close: string) => `${open}\n${experimentsMarkdown(step)}\n${close}`)
}

async function main(args: string[]): Promise<number> {
  const { positionals } = parseCommandLine(args, {}, { positionals: true, usage: 'sh bin/node learner/lesson-experiments.ts [STEP...]' })
  const steps = positionals.length ? positionals.map((a) => stepFromArg(a, 'lesson-experiments')) : STEPS
  for (const step of steps) {
    const file = lessonFile(step)
    const updated = withExperiments(step, fs.readFileSync(file, 'utf8'))
    if (updated === undefined) console.log(`lesson-experiments: ${step.id}: no <!-- experiments --> block`)
    else {
      fs.writeFileSync(file, updated)
      console.log(`lesson-experiments: ${step.id}: ${experimentsOf(step).length} experiments`)
    }
  }
  return 0
}

if (import.meta.main) await runCommand('lesson-experiments', main)
