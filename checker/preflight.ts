// Before any check: can this machine run the learner's engine at all? Each failure says what to do.
import fs from 'node:fs'
import { formatError } from '../lib/errors.ts'
import { nodeIsNewEnough } from '../lib/node-version.ts'
import { requireRootfs } from '../lib/rootfs/location.ts'
import { cgroupVersion, controllerDir } from './cgroups.ts'
import { readText } from './proc.ts'

export interface Problem {
  what: string
  todo: string
}

/** Problems of a Linux root host that the learner can fix here. */
export function setupProblems(needsRootfs: boolean): Problem[] {
  const out: Problem[] = []
  if (!nodeIsNewEnough()) out.push({ what: `Node ${process.versions.node} cannot run the engine's TypeScript`, todo: 'run it through npm (npm run check ...): every npm script finds or installs a Node that can' })
  const version = cgroupVersion()
  for (const controller of ['memory', 'cpu', 'pids']) {
    const dir = version === 2 ? '/sys/fs/cgroup' : controllerDir(controller, '/', 1)
    const ok = version === 2 ? (readText('/sys/fs/cgroup/cgroup.controllers') ?? '').split(/\s+/).includes(controller) : dir !== undefined && fs.existsSync(dir)
    if (!ok) {
      out.push({
        what: `the ${controller} cgroup controller is not available (cgroup v${version})`,
        todo: version === 2 ? `enable it (boot with cgroup_enable=${controller}, or use the workshop VM)` : `mount it: mkdir -p /sys/fs/cgroup/${controller} && mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller}`,
      })
    }
  }
  if (needsRootfs) {
    try {
      requireRootfs()
    } catch (error) {
      const text = formatError('minicontainer', error).split('\n')
      out.push({ what: text[0]!.replace(/^minicontainer: /, ''), todo: (text[1] ?? '').replace(/^minicontainer: hint: /, '') || 'npm run rootfs' })
    }
  }
  return out
}
