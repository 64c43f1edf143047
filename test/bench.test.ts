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
    const [runcMs] = row('`runc run`') ?? [NaN]
    for (const name of [
      'minicontainer (step 04), bare', 'minicontainer, npm path', 'minicontainer (step 05', 'minicontainer (step 06',
      'minicontainer (step 08', '`unshare', '`node -e 0`',
    ]) {
      const [ms, ratio] = row(name) ?? [NaN, NaN]
      expect(ms, name).toBeGreaterThan(0)
      // The ratio column is the row's median over runc's, as printed (to the rounding of the table).
      expect(Math.abs(ratio - ms / runcMs!), name).toBeLessThan(0.01 + 0.05 * ratio)
    }
    // A container start is two Node start-ups and more: it cannot beat one Node start-up, nor the unshare floor.
    expect(row('minicontainer (step 04), bare')![0]).toBeGreaterThan(row('`node -e 0`')![0])
    expect(row('minicontainer (step 04), bare')![0]).toBeGreaterThan(row('`unshare')![0])
    expect(row('minicontainer (step 06')![0]).toBeGreaterThan(row('`node -e 0`')![0])
    expect(result.stdout).toMatch(/^Machine: .+, \d+ cores, Linux /m)
    expect(result.stdout).toMatch(/npm run check step-04 -- --solution.* \| [\d.]+ s \|/)
    expect(result.stdout).toMatch(/npm run check step-06 -- --solution.* \| [\d.]+ s \|/)
    expect(result.stdout).toMatch(/npm run check step-08 -- --solution.* \| [\d.]+ s \|/)
  }, 240_000)
})
