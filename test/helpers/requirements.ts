// Tests that need root on Linux skip elsewhere, with the reason; under CI (CI=true) such a skip is a
// failure, so a CI machine that silently lost its powers cannot pass.
import os from 'node:os'

export function whyCannotRunContainers(): string | undefined {
  if (os.platform() !== 'linux') return `needs Linux (this is ${os.platform()})`
  if (process.getuid?.() !== 0) return 'needs root (run the tests as root, e.g. inside the workshop VM with sudo)'
  return undefined
}

/** Use as `describe.skipIf(skipUnlessRootOnLinux())('...', ...)`. */
export function skipUnlessRootOnLinux(): boolean {
  const why = whyCannotRunContainers()
  if (!why) return false
  if (process.env.CI === 'true') throw new Error(`CI=true but these tests cannot run: ${why}`)
  console.warn(`skipping container tests: ${why}`)
  return true
}
