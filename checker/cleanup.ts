// Whatever way the checker ends (Ctrl-C, SIGTERM, a closed terminal, a bug in the checker itself), every engine it
// started is stopped and the host is repaired before it exits.
import { diffAndRepair } from './host.ts'
import { sessionSnapshot, sessionNetwork } from './harness.ts'
import { removeHostFiles } from './probe.ts'
import { removeLoopDisksNow } from './security-escapes.ts'
import { killAllRuns, ourPids } from './runner.ts'
import { removeAllScratch } from './scratch.ts'
import { endSession } from './session.ts'

export function cleanUpOnExit(say: (text: string) => void): void {
  let stopping = false
  const stop = async (why: string, code: number): Promise<void> => {
    if (stopping) return
    stopping = true
    say(`${why}: stopping the engine and cleaning up...`)
    await killAllRuns()
    await endSession()
    await sessionNetwork()?.close() // its namespaces would go with the checker anyway: their agents read our pipe
    removeHostFiles()
    removeLoopDisksNow()
    const snapshot = sessionSnapshot()
    if (snapshot) for (const leak of await diffAndRepair(snapshot, ourPids)) say(`repaired: ${leak.what}`)
    removeAllScratch() // the checks' throw-away folders, now that no mount is left in one
    process.exit(code)
  }
  process.on('SIGINT', () => void stop('Ctrl-C', 130))
  process.on('SIGTERM', () => void stop('SIGTERM', 143))
  process.on('SIGHUP', () => void stop('SIGHUP', 129))
  // Output going nowhere (`| head`, a closed terminal) must not stop the clean-up.
  process.stdout.on('error', () => {})
  process.stderr.on('error', () => {})
  const crash = (error: unknown): void => {
    say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    void stop('the checker failed', 2)
  }
  process.on('uncaughtException', crash)
  process.on('unhandledRejection', crash)
}
