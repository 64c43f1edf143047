// What a check session shares and must take down when it is over, before the host is compared with its snapshot
// (a helper process still running then would count as a leak): e.g. step 09's local registry. A check registers
// the teardown of what it started; the harness runs them all once every check is done, also after a failure.
const teardowns: (() => Promise<void> | void)[] = []

/** Runs `teardown` when the session ends (last registered, first run). */
export function atSessionEnd(teardown: () => Promise<void> | void): void {
  teardowns.push(teardown)
}

/** The harness, once every check is over (and on Ctrl-C): runs and forgets every registered teardown. */
export async function endSession(): Promise<void> {
  for (const teardown of teardowns.splice(0).reverse()) {
    try {
      await teardown()
    } catch (error) {
      console.error(`checker: a session teardown failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
}
