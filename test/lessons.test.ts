// The lessons' experiments: written once in learner/hints/NN-name.ts, shown in the lesson (what to try, what to
// predict) by learner/lesson-experiments.ts, the answer kept behind `npm run hint N -- --experiment ID`.
import { describe, expect, test } from 'vitest'
import { STEPS } from '../lib/steps.ts'
import { experimentsOf } from '../learner/course.ts'
import { withExperiments } from '../learner/lesson-experiments.ts'
import { readLesson } from '../learner/shared.ts'

describe('the lessons show their experiments', () => {
  test.each(STEPS.map((s) => [s.id, s] as const))('%s: the experiments block is up to date (sh bin/node learner/lesson-experiments.ts)', (_id, step) => {
    const lesson = readLesson(step)
    expect(lesson).toContain('<!-- experiments -->')
    expect(withExperiments(step, lesson), 'refresh it: sh bin/node learner/lesson-experiments.ts').toBe(lesson)
    for (const e of experimentsOf(step)) {
      expect(lesson).toContain(e.predict)
      expect(lesson, `${e.id}: its answer stays behind npm run hint`).not.toContain(e.answer)
      expect(lesson).toContain(`npm run hint ${step.number} -- --experiment ${e.id}`)
    }
  })
})
