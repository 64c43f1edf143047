// One source of truth: steps/ and solutions/ are generated from engine/all-steps and must not drift.
import { describe, expect, test } from 'vitest'
import { deriveFile, findDrift } from '../lib/derive.ts'
import { STEPS } from '../lib/steps.ts'

const [step1, step2, step3] = STEPS as [typeof STEPS[0], typeof STEPS[0], typeof STEPS[0]]

describe('derive', () => {
  test('steps/ and solutions/ match engine/all-steps (run `npm run derive` after editing the master)', () => {
    expect(findDrift()).toEqual([])
  })

  const master = [
    'a()',
    '// @since 02-chroot',
    'b()',
    '// @end',
    '// @todo 02-chroot',
    '// TODO(02.1): do c',
    '// @starter',
    '// return 0',
    '// @solution',
    'return c()',
    '// @end',
    'd()',
  ].join('\n')

  test('a later step\'s code is absent', () => {
    expect(deriveFile(master, 'x.ts', step1, 'steps')).toBe('a()\nd()')
    expect(deriveFile(master, 'x.ts', step1, 'solutions')).toBe('a()\nd()')
  })
  test('the learner\'s step: the TODO and the starter code, not the solution', () => {
    expect(deriveFile(master, 'x.ts', step2, 'steps')).toBe('a()\nb()\n// TODO(02.1): do c\nreturn 0\nd()')
  })
  test('a solution, and any later step: the solution code, no TODO', () => {
    expect(deriveFile(master, 'x.ts', step2, 'solutions')).toBe('a()\nb()\nreturn c()\nd()')
    expect(deriveFile(master, 'x.ts', step3, 'steps')).toBe('a()\nb()\nreturn c()\nd()')
  })
  test('a file that starts at a later step does not exist before it', () => {
    expect(deriveFile('// @file-since 03-cgroups\nx()', 'x.ts', step2, 'solutions')).toBeUndefined()
  })
  test('an @imports region: the starter\'s imports in the learner\'s step, the solution\'s everywhere else, no TODO', () => {
    const imports = ['// @imports 02-chroot', '// @starter', "// import { a } from './x.ts'", '// @solution', "import { a, b } from './x.ts'", '// @end', 'a()'].join('\n')
    expect(deriveFile(imports, 'x.ts', step2, 'steps')).toBe("import { a } from './x.ts'\na()")
    expect(deriveFile(imports, 'x.ts', step2, 'solutions')).toBe("import { a, b } from './x.ts'\na()")
    expect(deriveFile(imports, 'x.ts', step3, 'steps')).toBe("import { a, b } from './x.ts'\na()")
    expect(deriveFile(imports, 'x.ts', step1, 'steps')).toBe('a()')
    expect(() => deriveFile('// @imports 02-chroot\n// TODO(02.9): no\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: an @imports region has no TODO')
  })
  test('broken markers are errors that say where', () => {
    expect(() => deriveFile('// @since 02-chroot\nx()', 'x.ts', step2, 'steps')).toThrow('x.ts: a region is not closed')
    expect(() => deriveFile('// @since 09-nope\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:1: unknown step "09-nope"')
    expect(() => deriveFile('// @solution', 'x.ts', step2, 'steps')).toThrow('x.ts:1: @solution outside a region')
    expect(() => deriveFile('// @todo 02-chroot\n// TODO(02.1): x\n// @starter\nreturn 0\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:4: starter code must be commented out')
  })
})
