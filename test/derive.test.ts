// One source of truth: steps/ and solutions/ are generated from engine/all-steps and must not drift.
import { describe, expect, test } from 'vitest'
import { deriveFile, findDrift, todoRegions } from '../lib/derive.ts'
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
  // Code a later step replaces: chroot (02) until pivot_root (04 here). Commented out in the master (which is the
  // last step's solution, valid TypeScript), like starter code; a TODO's own comment stays as it is.
  const replaced = [
    'a()',
    '// @until 04-network',
    '// function changeRoot() {',
    '// @end',
    '// @todo 02-chroot until 04-network',
    '// TODO(02.1): chroot',
    '// @solution',
    '//   chroot()',
    '// @end',
    '// @until 04-network',
    '// }',
    '// @end',
    '// @since 03-cgroups until 04-network',
    '// cgroupsOnly()',
    '// @end',
    '// @todo 04-network',
    '// TODO(04.1): pivot',
    '// @starter',
    '// chroot()',
    '// @solution',
    'pivot()',
    '// @end',
  ].join('\n')

  test('until: present, uncommented, in the steps before the one that replaces it (starters and solutions)', () => {
    expect(deriveFile(replaced, 'x.ts', step1, 'steps')).toBe('a()\nfunction changeRoot() {\n}')
    expect(deriveFile(replaced, 'x.ts', step2, 'steps')).toBe('a()\nfunction changeRoot() {\n// TODO(02.1): chroot\n}')
    expect(deriveFile(replaced, 'x.ts', step2, 'solutions')).toBe('a()\nfunction changeRoot() {\n  chroot()\n}')
    expect(deriveFile(replaced, 'x.ts', step3, 'steps')).toBe('a()\nfunction changeRoot() {\n  chroot()\n}\ncgroupsOnly()')
  })
  test('until: gone from that step on; its starter keeps what it needs in its TODO\'s @starter', () => {
    expect(deriveFile(replaced, 'x.ts', step4, 'steps')).toBe('a()\n// TODO(04.1): pivot\nchroot()')
    expect(deriveFile(replaced, 'x.ts', step4, 'solutions')).toBe('a()\npivot()')
  })
  test('a TODO whose code a later step replaces: its function and its code (level 3 of the hints), uncommented', () => {
    const chroot = todoRegions().find((r) => r.id === '02.2')!
    expect(chroot.fn).toBe('changeRoot')
    expect(chroot.solution.join('\n')).toMatch(/^\s+chroot\(rootfs\)$/m)
    // The imports of step 05's starter (chroot, for the starter's step-02 code) are an @imports region, no TODO.
    expect(todoRegions().filter((r) => r.file === 'pivot.ts').map((r) => r.id)).toEqual(['05.1', '05.2', '05.3'])
  })
  test('a TODO region at the top level (a list, a constant) is in no function, not in the one above it', () => {
    const regions = todoRegions().filter((r) => r.file === 'security.ts')
    expect(regions.map((r) => [r.id, r.fn])).toEqual([['07.4', 'dropCapabilities'], ['07.5', undefined]])
  })
  test('until: code left uncommented in the master, an end before the start, nesting: errors that say where', () => {
    expect(() => deriveFile('// @until 03-cgroups\nx()\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: code a later step replaces must be commented out in the master')
    expect(() => deriveFile('// @todo 02-chroot until 03-cgroups\n// TODO(02.1): x\n// @solution\nx()\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:4: code a later step replaces must be commented out')
    expect(() => deriveFile('// @since 03-cgroups until 02-chroot\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:1: a region cannot end (until 02-chroot) before it begins')
    expect(() => deriveFile('// @until 03-cgroups\n// @since 02-chroot\n// @end\n// @end', 'x.ts', step2, 'steps')).toThrow('x.ts:2: @since inside another region')
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
