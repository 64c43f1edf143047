// The project's own lint (scripts/lint.ts): its rules catch what they say, and the tree passes them.
import { describe, expect, test } from 'vitest'
import { MAX_LINE, lint, lintText } from '../scripts/lint.ts'

describe('lint', () => {
  test('a code line past the limit is caught; a long prose string, a URL or a long regular expression is not', () => {
    const code = `const x = [${'1, '.repeat(50)}1]`
    expect(code.length).toBeGreaterThan(MAX_LINE)
    expect(lintText('a.ts', `${code}\n`)).toEqual([`1: ${code.length} characters (at most ${MAX_LINE})`])
    const prose = `  hint: '${'a learner reads this sentence whole, '.repeat(4)}',`
    expect(prose.length).toBeGreaterThan(MAX_LINE)
    expect(lintText('a.ts', `${prose}\n// see https://example.org/${'x'.repeat(MAX_LINE)}\n`)).toEqual([])
  })

  test('whitespace at a line end, a tab in TypeScript, no final newline', () => {
    expect(lintText('a.ts', 'let a = 1 \n\tlet b\nlet c')).toEqual([
      '3: no newline at the end of the file', '1: whitespace at the end of the line', '2: a tab character (indent with spaces)',
    ])
    expect(lintText('a.sh', 'printf "\\t"\n\tcase\n')).toEqual([]) // tabs are the shell's business
  })

  test('the project passes (npm run lint shows each problem)', () => {
    const { problems, shellcheck } = lint()
    expect(problems).toEqual([])
    expect(shellcheck).toBe('')
  })
})
