// Installs the tests' Alpine rootfs once per run through the product's own installer (lib/rootfs/install.ts), into
// the tests' own MINICONTAINER_HOME (vitest.config.ts), so a learner's installed rootfs is never touched. The
// tarball comes from the places a learner's would (cache/, MINICONTAINER_CACHE), a fixtures folder when one is given
// (MINICONTAINER_ALPINE_FIXTURES, or this project's sibling ../shared/fixtures/alpine where it exists), else it is
// downloaded and verified like a learner's, and kept for the next run. Fast when already there.
import fs from 'node:fs'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { assertHostNetworkUnchanged, snapshotHostNetwork } from '../checker/host-network.ts'
import { formatError } from '../lib/errors.ts'
import { DEFAULT_VERSION, cacheDirs, findPinnedTarball, installRootfs, machineArch, pinnedSums } from '../lib/rootfs/install.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { hostLeftovers, snapshotHost } from './helpers/host.ts'
import { whyCannotRunContainers } from './helpers/requirements.ts'
import type { TestTarball } from './helpers/alpine.ts'

/** Where the tests keep a tarball they had to download (outside the project: the next clone finds it too). */
export const TEST_DOWNLOADS = '/var/tmp/minicontainer-test-downloads'

/** Every folder a tarball may come from, in order of preference. */
export function tarballSources(): string[] {
  const sibling = path.resolve(PROJECT_ROOT, '../shared/fixtures/alpine') // this project's own CI; optional
  return [...cacheDirs(), process.env.MINICONTAINER_ALPINE_FIXTURES, fs.existsSync(sibling) ? sibling : undefined, TEST_DOWNLOADS]
    .filter((dir): dir is string => Boolean(dir))
}

export default async function setup(project: TestProject): Promise<(() => void) | void> {
  const why = whyCannotRunContainers()
  if (why) {
    // The suites that need the rootfs skip for the same reason (and fail under CI).
    console.warn(`global-setup: not installing the test rootfs: ${why}`)
    return
  }
  // test.env reaches the test workers, not this process: set it here for the installer, then put it back.
  const saved = process.env.MINICONTAINER_HOME
  process.env.MINICONTAINER_HOME = project.config.env?.MINICONTAINER_HOME ?? saved ?? '/var/tmp/minicontainer-test'
  const sources = tarballSources()
  let installed
  try {
    installed = await installRootfs({ cacheDirs: sources, keepDownloadIn: TEST_DOWNLOADS, quiet: true })
  } catch (error) {
    // One line a human can act on, not a stack trace: what is missing and how to provide it.
    const name = `alpine-minirootfs-${DEFAULT_VERSION}-${machineArch()}.tar.gz`
    const reason = formatError('', error).replace(/^: /, '').split('\n')[0]
    console.error(`npm test: the tests need the Alpine minirootfs and could not get one (${reason}). ` +
      `Put ${name} (or another tarball pinned in lib/rootfs/SHA512SUMS) into cache/, or set ` +
      `MINICONTAINER_ALPINE_FIXTURES=DIR to a folder that holds it, or give this machine network access.`)
    process.exit(1)
  } finally {
    if (saved === undefined) delete process.env.MINICONTAINER_HOME
    else process.env.MINICONTAINER_HOME = saved
  }
  const file = findPinnedTarball(sources, installed.version, installed.arch)
  if (!file) throw new Error(`global-setup: installed Alpine ${installed.version}, but its tarball is in none of ${sources.join(', ')}`)
  if (installed.version !== DEFAULT_VERSION) {
    console.warn(`global-setup: testing with Alpine ${installed.version} (${file}): ${DEFAULT_VERSION}, the version learners get, could not be had here`)
  }
  const name = path.basename(file)
  const tarball: TestTarball = { file, name, version: installed.version, arch: installed.arch, sha512: pinnedSums().get(name)! }
  project.provide('alpineTarball', tarball)
  const before = snapshotHost()
  // Step 08's engines build bridges, veths and NAT rules, always inside network namespaces made for the run
  // (checker/test-network.ts, test/helpers/engine.ts): the real host's links, routes, firewall and sysctls must be
  // exactly as before the whole suite.
  const networkBefore = snapshotHostNetwork()
  return () => {
    assertHostNetworkUnchanged(networkBefore, 'the test suite')
    // After the whole suite: nothing any engine, starter or mutant ran may be left on the host.
    const leftovers = hostLeftovers(before)
    if (leftovers.length) throw new Error(`the tests left this on the host:\n  ${leftovers.join('\n  ')}`)
  }
}
