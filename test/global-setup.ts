// Installs the tests' Alpine rootfs once per run, offline, from the shared fixture, into the tests' own
// MINICONTAINER_HOME (vitest.config.ts), so a learner's installed rootfs is never touched. Fast when already there.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { assertHostNetworkUnchanged, snapshotHostNetwork } from '../checker/host-network.ts'
import { formatError } from '../lib/errors.ts'
import { installRootfs } from '../lib/rootfs/install.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { whyCannotRunContainers } from './helpers/requirements.ts'

export const FIXTURE_NAME = 'alpine-minirootfs-3.20.3-x86_64.tar.gz'

/** The shared fixture tarball: ../shared/fixtures/alpine next to the repo, or MINICONTAINER_ALPINE_FIXTURES. */
export function alpineFixture(): string {
  const dir = process.env.MINICONTAINER_ALPINE_FIXTURES || path.resolve(PROJECT_ROOT, '../shared/fixtures/alpine')
  return path.join(dir, FIXTURE_NAME)
}

export default async function setup(project: TestProject): Promise<(() => void) | void> {
  const why = whyCannotRunContainers()
  if (why) {
    // The suites that need the rootfs skip for the same reason (and fail under CI).
    console.warn(`global-setup: not installing the test rootfs: ${why}`)
    return
  }
  const fixture = alpineFixture()
  if (!fs.existsSync(fixture)) {
    throw new Error(
      `global-setup: the Alpine fixture ${fixture} is missing; the tests install their rootfs offline from it. ` +
        `Set MINICONTAINER_ALPINE_FIXTURES to the folder that holds ${FIXTURE_NAME}.`,
    )
  }
  // test.env reaches the test workers, not this process: set it here for the installer, then put it back.
  const saved = process.env.MINICONTAINER_HOME
  process.env.MINICONTAINER_HOME = project.config.env?.MINICONTAINER_HOME ?? saved ?? '/var/tmp/minicontainer-test'
  try {
    await installRootfs({ from: fixture, quiet: true })
  } catch (error) {
    throw new Error(formatError('global-setup: installing the test rootfs', error))
  } finally {
    if (saved === undefined) delete process.env.MINICONTAINER_HOME
    else process.env.MINICONTAINER_HOME = saved
  }
  const hostnameBefore = os.hostname()
  // Step 08's engines build bridges, veths and NAT rules, always inside test worlds (checker/world.ts): the
  // real host's links, routes, firewall and sysctls must be exactly as before the whole suite.
  const networkBefore = snapshotHostNetwork()
  return () => {
    assertHostNetworkUnchanged(networkBefore, 'the test suite')
    verifyHostClean(hostnameBefore)
  }
}

/**
 * After the whole suite: nothing that any engine, starter or mutant ran may be left on the host.
 * A failure here fails the run, with what was found.
 */
function verifyHostClean(hostnameBefore: string): void {
  const leftovers: string[] = []
  if (os.hostname() !== hostnameBefore) leftovers.push(`the hostname is ${os.hostname()}, was ${hostnameBefore}`)
  const cgroupParents = ['/sys/fs/cgroup', ...['memory', 'cpu', 'pids'].map((c) => `/sys/fs/cgroup/${c}`)]
  for (const parent of cgroupParents) {
    const dir = path.join(parent, 'minicontainer')
    if (fs.existsSync(dir)) leftovers.push(`cgroup ${dir} (${fs.readdirSync(dir).filter((n) => n.startsWith('mc-')).join(' ') || 'empty'})`)
  }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
  // /run/netns/*: named network namespaces of other programs (the VM test names its own minicontainer-e2e-N).
  leftovers.push(...mounts.filter((m) => (m.includes('minicontainer') || m.includes('/rootfs')) && !m.startsWith('/run/netns/')).map((m) => `mount ${m}`))
  if (leftovers.length) throw new Error(`the tests left this on the host:\n  ${leftovers.join('\n  ')}`)
}
