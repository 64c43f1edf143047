// No solution code before the learner asks for it: no line of an @solution block of the master engine appears,
// whitespace aside, in a starter's comments, a lesson, the guide or the README, a hints file's levels 1-2 or its
// experiments, or a string of the checker. (The helpers and the minimum a line must have: test/helpers/leaks.ts.)
import { describe, expect, test } from 'vitest'
import { MIN_LINE, commentsOf, findLeaks, isTrivial, learnerSources, normalize, solutionLines, stringsOf, stripLineComment } from './helpers/leaks.ts'

describe('no solution code where a learner reads before asking for it', () => {
  test('no @solution line appears in starters\' comments, lessons, guide, hints levels 1-2, experiments or checker strings', () => {
    const leaks = findLeaks()
    const report = leaks.map((l) => `TODO(${l.todo}) \`${l.line}\` appears in ${l.where.join('; ')}`)
    expect(report, 'show the API on other values, or say what to achieve; the code belongs to hint level 3').toEqual([])
  })

  test('the scan sees every kind of source, and the solution lines it looks for', () => {
    const lines = solutionLines()
    expect(lines.length).toBeGreaterThan(30)
    for (const id of ['01.1', '02.2', '03.2', '04.2']) expect(lines.some((l) => l.todo === id), id).toBe(true)
    const where = learnerSources().map((s) => s.where)
    for (const kind of [/^steps\/01-namespaces\/namespaces\.ts \(comments\)$/, /^steps\/04-network\/README\.md$/, /^docs\/GUIDE\.md$/, /^learner\/hints\/03-cgroups\.ts 03\.2 \(levels 1-2\)$/, /^learner\/hints\/02-chroot\.ts 02\.x1$/, /^checker\/checks\/03-cgroups\.ts \(strings\)$/]) {
      expect(where.some((w) => kind.test(w)), String(kind)).toBe(true)
    }
  })

  test('it would catch a leak: a solution line reformatted, in a comment, a lesson or a checker string', () => {
    const [line] = solutionLines().filter((l) => l.todo === '01.3')
    expect(line).toBeDefined()
    const spaced = line!.line.replace(/,/g, ' ,  ').replace(/\(/, '(\n  ')
    const sources = [
      { where: 'a starter comment', text: commentsOf('x.ts', `// TODO(01.3): do this:\n//   ${line!.line}\nconst a = 1\n`).join('\n') },
      { where: 'a lesson', text: `Write\n\n\`\`\`ts\n${spaced}\n\`\`\`\n` },
      { where: 'a checker string', text: stringsOf('c.ts', `fail('x', \`hint: ${line!.line.replace(/`/g, '\\`')}\`)`).join('\n') },
      { where: 'an innocent text', text: 'mount(2) with MS_REC and a propagation flag' },
    ]
    expect(findLeaks([line!], sources)).toEqual([{ todo: '01.3', line: line!.line, where: ['a starter comment', 'a lesson', 'a checker string'] }])
  })

  test('lines are compared without whitespace and without trailing comments; braces and keywords do not count', () => {
    expect(normalize("mount(null, '/',\n  null)")).toBe("mount(null,'/',null)")
    expect(stripLineComment("fs.writeFileSync(target, '') // a comment")).toBe("fs.writeFileSync(target, '') ")
    expect(stripLineComment("x('http://a') // b")).toBe("x('http://a') ")
    expect(isTrivial('}')).toBe(true)
    expect(isTrivial('}else{')).toBe(true)
    expect(isTrivial(normalize("chdir('/')"))).toBe(false)
    expect(MIN_LINE).toBeLessThanOrEqual(normalize("chdir('/')").length)
  })
})
