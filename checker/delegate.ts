// Where the check runs. Containers need Linux, root and the cgroup memory controller; a laptop without them runs the
// same `npm run check` inside the workshop VM instead (lib/vm/remote.ts), and this process only relays.
import { hostCanRunContainers, runInVm } from '../lib/vm/remote.ts'

/** Runs the check in the VM and exits with its status, when this machine cannot run it (or is told not to). */
export async function delegateToVmIfNeeded(argv: string[], say: (text: string) => void): Promise<void> {
  const verdict = hostCanRunContainers()
  if (verdict.ok) return
  say(`${verdict.reason}: running the check in the workshop VM`)
  process.exit(await runInVm('check', argv))
}
