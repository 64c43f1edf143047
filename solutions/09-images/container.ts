// The engine. Two processes, like runc's parent and child:
//
//   host (the engine, "run")                        container (init: becomes the command)
//   ───────────────────────────────────────────     ─────────────────────────────────────────────
//   parse flags, check the host
//   [09] the image: pulled if missing, its config
//   [06] create the container's layer folders
//   [03] create the cgroup with its limits
//   [08] the bridge (once), an address (a lease)
//   [01] a new PID namespace for the next child
//   spawn init ──────────────────────────────────►  PID 1, waits for its configuration on fd 3
//   [03] put init into the cgroup
//   send the configuration over fd 3 ───────────►  [01] new mount, UTS, IPC namespaces, hostname
//                                                   [04] new network namespace
//   [08] the veth pair: one end on the bridge, ◄───── paused: "my namespaces exist"
//        the other moved in as eth0, its address
//        and route, the NAT rules; "go on" ───────►
//                                                   [07] cgroup namespace
//                                                   [06] overlay: image + layer; volumes ([09] layers)
//                                                   [02] /dev, chroot, /proc
//                                                   [05]   pivot_root instead of chroot
//                                                   [07] /sys, /proc, /dev locked; /sys/fs/cgroup
//                                                   [04] lo up
//                                                   [07] capabilities dropped
//                                                   [09] the image's WorkingDir and User
//                                                   [07] seccomp filter
//   wait                                            execve(CMD): the command is now PID 1
//   [03] read the OOM counter, remove the cgroup ◄─ init ends: a code, or a signal
//   [06] remove the layer
//   [08] remove the veth, the NAT rules, the lease
//   [01] exit with the command's status (128 + n for signal n)
import os from 'node:os'
import { parseRunArgs, type RunOptions } from '../../lib/cli.ts'
import { EXIT, FriendlyError, formatError } from '../../lib/errors.ts'
import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'
import { engineEnvironment } from '../../lib/environment.ts'
import { execCommand, receiveConfig } from '../../lib/init/container.ts'
import { assertHostCanRunContainers, spawnInit, trapStopSignals, type InitEnd } from '../../lib/init/host.ts'
import { INIT_SUBCOMMAND, type InitConfig } from '../../lib/init/protocol.ts'
import { createPidNamespace, enterNamespaces, makeMountsPrivate, setHostname } from './namespaces.ts'
import { containerEnvironment } from '../../lib/environment.ts'
import { requireRootfs } from '../../lib/rootfs/location.ts'
import { enterRootfs } from './rootfs.ts'
import { formatBytes } from '../../lib/cli.ts'
import { createCgroup, joinCgroup, oomKillCount, removeCgroup } from './cgroups.ts'
import { bringUpLoopback, enterNetworkNamespace } from './network.ts'
import { requireVolumeSources } from '../../lib/cli.ts'
import { createLayer, mountOverlay, removeLayer } from './overlay.ts'
import { cgroupLayout } from '../../lib/cgroup-layout.ts'
import { enterCgroupNamespace, mountCgroups, protectKernelFiles } from './kernelfs.ts'
import { dropCapabilities, installSyscallFilter } from './security.ts'
import { waitForHost } from '../../lib/init/container.ts'
import { connectContainer, releaseNetwork, reserveNetwork } from './bridge.ts'
import { IMAGE_COMMANDS } from '../../lib/oci/cli.ts'
import { enterImageProcess } from '../../lib/oci/user.ts'
import { imageCommand, prepareImage, type ImageRun } from './image.ts'

/** The entry point: `main.js run ...` on the host, `main.js __init` inside the container. */
export async function main(argv: string[]): Promise<void> {
  try {
    if (argv[0] === INIT_SUBCOMMAND) init()
    else if ((IMAGE_COMMANDS as readonly string[]).includes(argv[0] ?? '')) process.exitCode = await imageCommand(argv)
    else process.exitCode = await run(parseRunArgs(argv))
  } catch (error) {
    const status = error instanceof FriendlyError ? error.exitCode : EXIT.ENGINE_FAILED
    if (status === 0) console.log((error as Error).message) // --help
    else console.error(formatError('minicontainer', error))
    process.exitCode = status
  }
}

/** Host side: starts the container, waits for it, cleans up, returns the exit status. */
export async function run(options: RunOptions): Promise<number> {
  assertHostCanRunContainers()
  trapStopSignals() // Ctrl-C from here on stops the container; the engine still cleans up
  const config: InitConfig = { command: options.command, hostname: options.hostname }
  // An image: its layers (the bottom one stands in for step 06's image), its config; else the rootfs as before.
  let image: ImageRun | undefined
  if (options.image) {
    image = await prepareImage(options, containerEnvironment(options.hostname))
    Object.assign(config, {
      rootfs: image.layers[0],
      command: image.command,
      env: image.env,
      workingDir: image.workingDir,
      user: image.user,
    })
  } else {
    config.rootfs = requireRootfs(options.rootfs)
    config.env = containerEnvironment(options.hostname)
  }
  config.volumes = requireVolumeSources(options.volumes)
  const cleanups: (() => void)[] = [] // run in reverse order at the end, whatever happened
  try {
    // The image stays as it is; the container's root is the overlay init mounts on layer.merged.
    const layer = createLayer(config.rootfs!)
    cleanups.push(() => removeLayer(layer))
    config.layer = layer
    config.rootfs = layer.merged
    layer.lowerDirs = image?.layers ?? [layer.image]
    if (image) cleanups.push(image.unpin)
    const cgroup = createCgroup(options)
    cleanups.push(() => removeCgroup(cgroup))
    const network = reserveNetwork(options.publish)
    if (network) cleanups.push(() => releaseNetwork(network))
    createPidNamespace()
    const init = await spawnInit()
    joinCgroup(cgroup, init.pid)
    init.start(config)
    // init pauses once its network namespace exists: plug the cable in, then let it go on.
    if (await init.paused()) {
      if (network) connectContainer(init.pid, network)
      init.resume()
    }
    const status = exitStatus(await init.exited)
    const oomKills = oomKillCount(cgroup)
    if (oomKills > 0) {
      const limit = `${formatBytes(options.memoryBytes)} memory limit (--memory)`
      console.error(status === EXIT.SIGNAL_BASE + SIGKILL
        ? `minicontainer: the kernel's OOM killer stopped the command: it needed more than its ${limit}`
        : `minicontainer: the kernel's OOM killer killed ${oomKills} process(es) in the container: they needed more than its ${limit}`)
    }
    return status
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup()
  }
}

/**
 * The engine's exit status, from how the command (init, after execve) ended: scripts, CI and docker read it.
 * docker's and the shell's convention: the command's own exit code, or 128 + n when signal n killed it.
 */
export function exitStatus(ended: InitEnd): number {
  if (ended.signal) return EXIT.SIGNAL_BASE + os.constants.signals[ended.signal]
  return ended.code ?? EXIT.ENGINE_FAILED
}

/**
 * Container side: runs as PID 1 of the new PID namespace, sets up the rest and then becomes the
 * command. Everything here is synchronous: namespaces belong to this (the main) thread.
 */
function init(): never {
  // If the engine dies (even of SIGKILL), so does the container.
  setParentDeathSignal(SIGKILL)
  const { config, ignoredSignals } = receiveConfig()
  try {
    enterNamespaces()
    makeMountsPrivate()
    setHostname(config.hostname)
    enterNetworkNamespace()
    waitForHost() // the engine connects the new network namespace meanwhile
    const cgroups = cgroupLayout() // read while the host's mounts are still in view: the new root hides them
    enterCgroupNamespace()
    mountOverlay(config.layer!)
    enterRootfs(config.rootfs!, config.volumes ?? [])
    protectKernelFiles()
    mountCgroups(cgroups)
    bringUpLoopback()
    dropCapabilities() // after the last mount and after lo is up: both needed what this takes away
    // The image's WorkingDir and User: after the capabilities are dropped (that takes CAP_SETPCAP, which a user
    // other than root has not), before the filter (which needs no_new_privs, set by dropCapabilities).
    if (config.workingDir !== undefined) {
      const home = enterImageProcess(config.workingDir, config.user ?? '')
      config.env!.HOME ??= home ?? '/'
    }
    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too
  } catch (error) {
    console.error(formatError('minicontainer', error))
    process.exit(EXIT.ENGINE_FAILED)
  }
  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)
}
