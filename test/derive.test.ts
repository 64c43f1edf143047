// One source of truth: steps/ and solutions/ are generated from engine/all-steps and must not drift.
import { describe, expect, test } from 'vitest'
import { deriveFile, findDrift } from '../scripts/derive.ts'
import { STEPS } from '../lib/steps.ts'

const [step1, step2, step3, step4] = STEPS as [typeof STEPS[0], typeof STEPS[0], typeof STEPS[0], typeof STEPS[0]]

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
    'return 0',
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
  // Code a later step replaces: chroot (02) until pivot_root (04 here), with the TODO of its own step inside.
  const replaced = [
    'a()',
    '// @until 04-network',
    '// @todo 02-chroot',
    '// TODO(02.1): chroot',
    '// @solution',
    'chroot()',
    '// @end',
    '// @end',
    '// @todo 04-network',
    '// TODO(04.1): pivot',
    '// @starter',
    'chroot()',
    '// @solution',
    'pivot()',
    '// @end',
    '// @since 03-cgroups',
    'function later() {',
    '  // @todo 03-cgroups',
    '  // TODO(03.1): x',
    '  // @solution',
    '  x()',
    '  // @end',
    '}',
    '// @end',
  ].join('\n')

  test('@until: present in the steps before it, starters and solutions, with its inner TODO', () => {
    expect(deriveFile(replaced, 'x.ts', step1, 'steps')).toBe('a()')
    expect(deriveFile(replaced, 'x.ts', step2, 'steps')).toBe('a()\n// TODO(02.1): chroot')
    expect(deriveFile(replaced, 'x.ts', step2, 'solutions')).toBe('a()\nchroot()')
    expect(deriveFile(replaced, 'x.ts', step3, 'steps')).toBe('a()\nchroot()\nfunction later() {\n  // TODO(03.1): x\n}')
  })
  test('@until: gone from its step on; that step\'s starter keeps what it needs in its TODO\'s @starter', () => {
    expect(deriveFile(replaced, 'x.ts', step4, 'steps')).toBe('a()\n// TODO(04.1): pivot\nchroot()\nfunction later() {\n  x()\n}')
    expect(deriveFile(replaced, 'x.ts', step4, 'solutions')).toBe('a()\npivot()\nfunction later() {\n  x()\n}')
  })
  test('nesting: only an @since or @until region holds one @since or @todo region', () => {
    expect(() => deriveFile('// @todo 02-chroot\n// @since 02-chroot\n// @end\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: @since inside another region')
    expect(() => deriveFile('// @since 02-chroot\n// @until 03-cgroups\n// @end\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: @until inside another region')
    expect(() => deriveFile('// @until 03-cgroups\n// @since 02-chroot\n// @todo 02-chroot\n// @end\n// @end\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:3: @todo inside another region')
    expect(() => deriveFile('// @until 03-cgroups\n// @starter\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: @starter belongs in a @todo region')
    expect(() => deriveFile('// @until 03-cgroups\n// @since 02-chroot\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts: a region is not closed')
  })
  test('broken markers are errors that say where', () => {
    expect(() => deriveFile('// @since 02-chroot\nx()', 'x.ts', step2, 'steps')).toThrow('x.ts: a region is not closed')
    expect(() => deriveFile('// @since 09-nope\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:1: unknown step "09-nope"')
    expect(() => deriveFile('// @solution', 'x.ts', step2, 'steps')).toThrow('x.ts:1: @solution outside a region')
  })
})
