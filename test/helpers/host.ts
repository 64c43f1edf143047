// The host as the tests compare it before and after: the checker's own snapshot (checker/host.ts), so the tests
// and the checker agree on what a leak is (hostname, mounts, cgroups), plus the processes a test started.
import { describeChange, hostChanges, snapshotHost, type HostSnapshot } from '../../checker/host.ts'
import { descendants } from '../../checker/proc.ts'

export { snapshotHost, type HostSnapshot }

/** What changed on the host since `before`, one line each; [] when nothing did. */
export function hostLeftovers(before: HostSnapshot): string[] {
  return hostChanges(before).map(describeChange)
}

/** Live processes below this test process (an engine or container that outlived its test). */
export function strayProcesses(): number[] {
  return descendants(process.pid).filter((p) => p.state !== 'Z').map((p) => p.pid)
}
