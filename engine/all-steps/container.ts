// The engine. Two processes, like runc's parent and child:
//
//   host (the engine, "run")                        container (init: becomes the command)
//   ───────────────────────────────────────────     ─────────────────────────────────────────────
//   parse flags, check the host
//   [09] the image: pulled if missing, its config
//   [06] create the container's layer folders
//   [03] create the cgroup with its limits
// @since 08-networking
//   [08] the bridge (once), an address (a lease)
// @end
//   [01] a new PID namespace for the next child
//   spawn init ──────────────────────────────────►  PID 1, waits for its configuration on fd 3
//   [03] put init into the cgroup
//   send the configuration over fd 3 ───────────►  [01] new mount, UTS, IPC namespaces, hostname
//                                                   [04] new network namespace
// @since 08-networking
//   [08] the veth pair: one end on the bridge, ◄───── paused: "my namespaces exist"
//        the other moved in as eth0, its address
//        and route, the NAT rules; "go on" ───────►
// @end
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
// @since 08-networking
//   [08] remove the veth, the NAT rules, the lease
// @end
//   [01] exit with the command's status (128 + n for signal n)
// @imports 01-namespaces
// @solution
import os from 'node:os'
// @end
import { parseRunArgs, type RunOptions } from '../../lib/cli.ts'
import { EXIT, FriendlyError, formatError } from '../../lib/errors.ts'
import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'
import { engineEnvironment } from '../../lib/environment.ts'
import { execCommand, receiveConfig } from '../../lib/init/container.ts'
import { assertHostCanRunContainers, spawnInit, trapStopSignals, type InitEnd } from '../../lib/init/host.ts'
import { INIT_SUBCOMMAND, type InitConfig } from '../../lib/init/protocol.ts'
import { createPidNamespace, enterNamespaces, makeMountsPrivate, setHostname } from './namespaces.ts'
// @since 02-chroot
import { containerEnvironment } from '../../lib/environment.ts'
import { requireRootfs } from '../../lib/rootfs/location.ts'
import { enterRootfs } from './rootfs.ts'
// @end
// @since 03-cgroups
import { formatBytes } from '../../lib/cli.ts'
import { createCgroup, joinCgroup, oomKillCount, removeCgroup } from './cgroups.ts'
// @end
// @since 04-network
import { bringUpLoopback, enterNetworkNamespace } from './network.ts'
// @end
// @since 06-overlayfs
import { requireVolumeSources } from '../../lib/cli.ts'
import { createLayer, mountOverlay, removeLayer } from './overlay.ts'
// @end
// @since 07-security
import { cgroupLayout } from '../../lib/cgroup-layout.ts'
import { enterCgroupNamespace, mountCgroups, protectKernelFiles } from './kernelfs.ts'
import { dropCapabilities, installSyscallFilter } from './security.ts'
// @end
// @since 08-networking
import { waitForHost } from '../../lib/init/container.ts'
import { connectContainer, releaseNetwork, reserveNetwork } from './bridge.ts'
// @end
// @since 09-images
import { IMAGE_COMMANDS } from '../../lib/oci/cli.ts'
import { enterImageProcess } from '../../lib/oci/user.ts'
import { imageCommand, prepareImage, type ImageRun } from './image.ts'
// @end

/** The entry point: `main.js run ...` on the host, `main.js __init` inside the container. */
export async function main(argv: string[]): Promise<void> {
  try {
    if (argv[0] === INIT_SUBCOMMAND) init()
    // @since 09-images
    else if ((IMAGE_COMMANDS as readonly string[]).includes(argv[0] ?? '')) process.exitCode = await imageCommand(argv)
    // @end
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
  // @until 06-overlayfs
  // if (options.volumes.length) throw new FriendlyError('--volume: volumes come with step 06 (overlayfs)')
  // @end
  // @until 08-networking
  // if (options.publish.length) throw new FriendlyError('--publish: published ports come with step 08 (networking)')
  // @end
  // @until 09-images
  // if (options.image) throw new FriendlyError(`${options.image}: images come with step 09 (give the command after --)`)
  // @end
  // @since 02-chroot until 09-images
  // config.rootfs = requireRootfs(options.rootfs)
  // config.env = containerEnvironment(options.hostname)
  // @end
  // @since 09-images
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
  // @end
  // @since 06-overlayfs
  config.volumes = requireVolumeSources(options.volumes)
  // @end
  const cleanups: (() => void)[] = [] // run in reverse order at the end, whatever happened
  try {
    // @since 06-overlayfs
    // The image stays as it is; the container's root is the overlay init mounts on layer.merged.
    const layer = createLayer(config.rootfs!)
    cleanups.push(() => removeLayer(layer))
    config.layer = layer
    config.rootfs = layer.merged
    // @end
    // @since 09-images
    layer.lowerDirs = image?.layers ?? [layer.image]
    if (image) cleanups.push(image.unpin)
    // @end
    // @since 03-cgroups
    const cgroup = createCgroup(options)
    cleanups.push(() => removeCgroup(cgroup))
    // @end
    // @since 08-networking
    const network = reserveNetwork(options.publish)
    if (network) cleanups.push(() => releaseNetwork(network))
    // @end
    createPidNamespace()
    const init = await spawnInit()
    // @since 03-cgroups
    joinCgroup(cgroup, init.pid)
    // @end
    init.start(config)
    // @since 08-networking
    // init pauses once its network namespace exists: plug the cable in, then let it go on.
    if (await init.paused()) {
      if (network) connectContainer(init.pid, network)
      init.resume()
    }
    // @end
    const status = exitStatus(await init.exited)
    // @since 03-cgroups
    const oomKills = oomKillCount(cgroup)
    if (oomKills > 0) {
      const limit = `${formatBytes(options.memoryBytes)} memory limit (--memory)`
      console.error(status === EXIT.SIGNAL_BASE + SIGKILL
        ? `minicontainer: the kernel's OOM killer stopped the command: it needed more than its ${limit}`
        : `minicontainer: the kernel's OOM killer killed ${oomKills} process(es) in the container: they needed more than its ${limit}`)
    }
    // @end
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
  // @todo 01-namespaces
  // TODO(01.5): Report how the command ended as ONE number, the way a shell does: its own exit code
  //   when it exited, and when a signal killed it, 128 plus that signal's number (SIGKILL: 137, a
  //   crash with SIGSEGV: 139). Why: a signal death is not an exit code, and an engine that says 125
  //   or 0 after a crash or an OOM kill hides it. `ended` has either a code or a signal's name.
  //   Lesson: "5. The exit status". See man 7 signal and "EXIT STATUS" in man 1 bash.
  // @starter
  // return ended.code ?? EXIT.ENGINE_FAILED
  // @solution
  if (ended.signal) return EXIT.SIGNAL_BASE + os.constants.signals[ended.signal]
  return ended.code ?? EXIT.ENGINE_FAILED
  // @end
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
    // @since 04-network
    enterNetworkNamespace()
    // @end
    // @since 08-networking
    waitForHost() // the engine connects the new network namespace meanwhile
    // @end
    // @since 07-security
    const cgroups = cgroupLayout() // read while the host's mounts are still in view: the new root hides them
    enterCgroupNamespace()
    // @end
    // @since 06-overlayfs
    mountOverlay(config.layer!)
    // @end
    // @since 02-chroot until 06-overlayfs
    // enterRootfs(config.rootfs!)
    // @end
    // @since 06-overlayfs
    enterRootfs(config.rootfs!, config.volumes ?? [])
    // @end
    // @since 07-security
    protectKernelFiles()
    mountCgroups(cgroups)
    // @end
    // @since 04-network
    bringUpLoopback()
    // @end
    // @since 07-security
    dropCapabilities() // after the last mount and after lo is up: both needed what this takes away
    // @end
    // @since 09-images
    // The image's WorkingDir and User: after the capabilities are dropped (that takes CAP_SETPCAP, which a user
    // other than root has not), before the filter (which needs no_new_privs, set by dropCapabilities).
    if (config.workingDir !== undefined) {
      const home = enterImageProcess(config.workingDir, config.user ?? '')
      config.env!.HOME ??= home ?? '/'
    }
    // @end
    // @since 07-security
    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too
    // @end
  } catch (error) {
    console.error(formatError('minicontainer', error))
    process.exit(EXIT.ENGINE_FAILED)
  }
  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)
}
