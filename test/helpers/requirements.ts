// Tests that need root on Linux skip elsewhere, with the reason; under CI (CI=true) such a skip is a
// failure, so a CI machine that silently lost its powers cannot pass.
import { containerHostProblem } from '../../lib/host-requirements.ts'

export function whyCannotRunContainers(): string | undefined {
  const problem = containerHostProblem()
  return problem && `${problem.problem} (run the tests as root on Linux, e.g. inside the workshop VM with sudo)`
}

/** Use as `describe.skipIf(skipUnlessRootOnLinux())('...', ...)`. */
export function skipUnlessRootOnLinux(): boolean {
  const why = whyCannotRunContainers()
  if (!why) return false
  if (process.env.CI === 'true') throw new Error(`CI=true but these tests cannot run: ${why}`)
  console.warn(`skipping container tests: ${why}`)
  return true
}
