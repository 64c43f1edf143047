// `npm run bench -- --quick` once, so the benchmark cannot rot. It is a benchmark, not a timed test:
// this asserts that it ran and printed its table, never how fast anything was.
import { execa } from 'execa'
import { describe, expect, test } from 'vitest'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

/** The rows of the start-up table: name -> [median ms, ratio to runc]. */
function startupRows(table: string): Map<string, [number, number]> {
  const rows = new Map<string, [number, number]>()
  for (const line of table.split('\n')) {
    const match = /^\| (.+?) \| ([\d.]+) ms \| ([\d.]+)x \|/.exec(line)
    if (match) rows.set(match[1]!, [Number(match[2]), Number(match[3])])
  }
  return rows
}

describe.skipIf(skipUnlessRootOnLinux())('npm run bench', () => {
  test('--quick prints the table: the engine, unshare and runc side by side, with the machine', async () => {
    const result = await execa('sh', ['bin/node', 'scripts/bench.ts', '--quick'], { cwd: PROJECT_ROOT, reject: false, timeout: 240_000 })
    expect(result.stderr).not.toMatch(/^bench: (?!\d+ warm-up|npm run check)/m) // no error line
    expect(result.exitCode).toBe(0)
    const rows = startupRows(result.stdout)
    const row = (start: string): [number, number] | undefined => [...rows].find(([name]) => name.startsWith(start))?.[1]
    for (const name of ['minicontainer (step 04)', 'minicontainer (step 08', '`unshare', '`runc run`']) {
      const [ms, ratio] = row(name) ?? [NaN, NaN]
      expect(ms, name).toBeGreaterThan(0)
      expect(ratio, name).toBeGreaterThan(0)
    }
    expect(row('`runc run`')![1]).toBe(1)
    expect(result.stdout).toMatch(/^Machine: .+, \d+ cores, Linux /m)
    expect(result.stdout).toMatch(/npm run check step-04 -- --solution.* \| [\d.]+ s \|/)
    expect(result.stdout).toMatch(/npm run check step-08 -- --solution.* \| [\d.]+ s \|/)
  }, 240_000)
})
