// Phase-1 prototype of step 08 (until steps 05-07 exist and it moves into engine/all-steps with markers):
// solutions/04-network plus engine/08-prototype/bridge.ts, wired into container.ts by four small edits, built
// in a temp dir laid out like the project (as the mutants are).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT } from '../../lib/steps.ts'
import { mutate } from '../mutants/mutants.ts'

export const PROTOTYPE_EDITS: [string, string][] = [
  [
    "import { bringUpLoopback, enterNetworkNamespace } from './network.ts'\n",
    "import { bringUpLoopback, enterNetworkNamespace } from './network.ts'\nimport { waitForHost } from '../../lib/init/container.ts'\nimport { connectContainer, disconnectContainer, reserveNetwork } from './bridge.ts'\n",
  ],
  [
    '    cleanups.push(() => removeCgroup(cgroup))\n',
    '    cleanups.push(() => removeCgroup(cgroup))\n    const lease = reserveNetwork(options.publish)\n    cleanups.push(() => disconnectContainer(lease))\n',
  ],
  [
    '    init.start(config)\n',
    '    init.start(config)\n    if (await init.paused()) {\n      connectContainer(init.pid, lease)\n      init.resume()\n    }\n',
  ],
  ['    enterNetworkNamespace()\n', '    enterNetworkNamespace()\n    waitForHost()\n'],
]

export function buildNetworkPrototype(edits: Record<string, [string, string][]> = {}): { engineDir: string; remove: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-net-prototype-'))
  for (const link of ['lib', 'node_modules', 'package.json']) fs.symlinkSync(path.join(PROJECT_ROOT, link), path.join(root, link))
  const engineDir = path.join(root, 'solutions', '08-prototype')
  fs.cpSync(path.join(PROJECT_ROOT, 'solutions', '04-network'), engineDir, { recursive: true })
  fs.copyFileSync(path.join(PROJECT_ROOT, 'engine', '08-prototype', 'bridge.ts'), path.join(engineDir, 'bridge.ts'))
  const container = path.join(engineDir, 'container.ts')
  fs.writeFileSync(container, mutate(fs.readFileSync(container, 'utf8'), PROTOTYPE_EDITS, 'solutions/04-network/container.ts'))
  for (const [file, fileEdits] of Object.entries(edits)) {
    const target = path.join(engineDir, file)
    fs.writeFileSync(target, mutate(fs.readFileSync(target, 'utf8'), fileEdits, `08-prototype/${file}`))
  }
  return { engineDir, remove: () => fs.rmSync(root, { recursive: true, force: true }) }
}

if (import.meta.main) console.log(buildNetworkPrototype().engineDir)
