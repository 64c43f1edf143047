// The engine's command line, shared by every step (CONTRIBUTING.md has the contract):
//   main.js run [--rootfs DIR] [--hostname NAME] [--memory SIZE] [--cpus N] [--pids N]
//               [--volume HOST_DIR:CONTAINER_DIR[:ro]]... [--publish HOST_PORT:CONTAINER_PORT]... [--] CMD [ARG...]
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseCommandLine } from './args.ts'
import { FriendlyError } from './errors.ts'
import { formatReference, parseReference } from './oci/reference.ts'
import { ImageStore } from './oci/store.ts'

/** `--publish 8080:80[/tcp|/udp]`: connections to the host's port 8080 go to the container's port 80 (from step 08). */
export interface Publish {
  hostPort: number
  containerPort: number
  protocol: 'tcp' | 'udp'
}

export interface RunOptions {
  command: string[]
  /** undefined = the installed Alpine rootfs. */
  rootfs: string | undefined
  hostname: string
  memoryBytes: number
  cpus: number
  pids: number
  publish: Publish[]
  /** --volume (docker's -v), in the order given; used from step 06 on. */
  volumes: Volume[]
  /** `run IMAGE [--] [CMD...]` (step 09): the image to run; `command` may then be empty (the image's Cmd). */
  image: string | undefined
  /** --insecure-registry HOST (step 09): may speak plain HTTP although not on this machine. */
  insecureRegistries: string[]
}

/** A host folder bind-mounted into the container: `--volume HOST_DIR:CONTAINER_DIR[:ro]`. */
export interface Volume {
  /** Absolute path on the host. */
  host: string
  /** Absolute, normalized path inside the container (never "/"). */
  container: string
  readOnly: boolean
  /** As typed, for messages. */
  spec: string
}

export const DEFAULTS = { hostname: 'container', memory: '100M', cpus: 0.5, pids: 256 } as const
const MIN_MEMORY = 32 * 1024 ** 2
const MIN_PIDS = 16

export const USAGE = `usage: main.js run [--rootfs DIR] [--hostname NAME] [--memory SIZE] [--cpus N] [--pids N] [--volume HOST_DIR:CONTAINER_DIR[:ro]]... [--publish H:C]... [--] CMD [ARG...]
       main.js run [OPTIONS] IMAGE [--] [CMD [ARG...]]      (step 09; also: main.js pull IMAGE, images, rmi IMAGE)
  --rootfs DIR     the container's root filesystem (default: the Alpine rootfs from \`npm run rootfs\`)
  --hostname NAME  the hostname inside (default: ${DEFAULTS.hostname})
  --memory SIZE    memory limit, swap included: 100M, 100MB, 1G or bytes (default: ${DEFAULTS.memory})
  --cpus N         CPU limit in CPUs, e.g. 0.5 = half of one CPU (default: ${DEFAULTS.cpus})
  --pids N         most processes at once (default: ${DEFAULTS.pids})
  --volume HOST_DIR:CONTAINER_DIR[:ro], -v ...
                   bind-mount a host folder into the container, read-only with :ro (step 06; repeatable)
  --publish H:C, -p ...
                   the host's port H leads to the container's port C (tcp; H:C/udp) (step 08; repeatable)
  --insecure-registry HOST
                   pull IMAGE over plain HTTP from HOST (step 09; a registry on this machine may always)
  IMAGE            [REGISTRY/]NAME[:TAG|@sha256:DIGEST]: a tag, digest or registry makes the first word an image
                   (alpine:3.20, pulled when missing); a bare name only once pulled. After -- it is the command.`

function usageError(message: string): FriendlyError {
  return new FriendlyError(message, { hint: USAGE.split('\n')[0] })
}

const RUN_OPTIONS = {
  rootfs: { type: 'string' },
  hostname: { type: 'string' },
  memory: { type: 'string' },
  cpus: { type: 'string' },
  pids: { type: 'string' },
  publish: { type: 'string', short: 'p', multiple: true },
  volume: { type: 'string', short: 'v', multiple: true },
  'insecure-registry': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parses `run ...`. Throws a FriendlyError (exit 125) for anything it does not understand. */
export function parseRunArgs(argv: string[]): RunOptions {
  const [subcommand, ...rest] = argv
  if (subcommand === undefined || subcommand === '--help' || subcommand === '-h') {
    throw new FriendlyError(subcommand ? USAGE : `no command given\n${USAGE}`, { exitCode: subcommand ? 0 : 125 })
  }
  if (subcommand !== 'run') throw usageError(`unknown command ${JSON.stringify(subcommand)} (the only one is "run")`)
  let parsed
  try {
    // The options end where the command starts, like docker run: `run --hostname x ls -la`.
    parsed = parseCommandLine(rest, RUN_OPTIONS, { untilCommand: true })
  } catch (error) {
    throw usageError((error as Error).message)
  }
  const { values, separated } = parsed
  let { command } = parsed
  if (values.help) throw new FriendlyError(USAGE, { exitCode: 0 })
  let image: string | undefined
  if (!separated && values.rootfs === undefined && command[0] !== undefined && namesImage(command[0])) {
    image = command[0]
    command = command.slice(command[1] === '--' ? 2 : 1)
  }
  if (command.length === 0 && !image) throw usageError('no command given: what should run in the container? e.g. /bin/sh')
  return {
    command,
    image,
    insecureRegistries: values['insecure-registry'] ?? [],
    rootfs: values.rootfs,
    hostname: parseHostname(values.hostname ?? DEFAULTS.hostname),
    memoryBytes: parseSize(values.memory ?? DEFAULTS.memory),
    cpus: values.cpus === undefined ? DEFAULTS.cpus : parseCpus(values.cpus),
    pids: values.pids === undefined ? DEFAULTS.pids : parsePids(values.pids),
    publish: (values.publish ?? []).reduce<Publish[]>((all, text) => [...all, parsePublish(text, all)], []),
    volumes: (values.volume ?? []).map(parseVolume),
  }
}

/**
 * Whether the first word of `run WORD ...` is an image (step 09) rather than the command: a reference that says so
 * itself (a tag, a digest, a registry: alpine:3.20, 127.0.0.1:5000/test/alpine) or the name of an image pulled
 * already (alpine). `run sh` stays the command sh, as in every step before 09; a path never names an image.
 */
export function namesImage(word: string): boolean {
  if (/^[./]/.test(word)) return false
  let ref
  try {
    ref = parseReference(word)
  } catch {
    return false
  }
  const first = word.split('/')[0]!
  if (/[:@]/.test(word) || (word.includes('/') && (first.includes('.') || first === 'localhost'))) return true
  return new ImageStore().readImage(formatReference(ref)) !== undefined
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/**
 * "100M", "100MB", "100MiB", "1.5G", "104857600" -> bytes. Like docker, K/M/G are powers of 1024
 * whichever way they are written.
 */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim())
  if (!match) throw usageError(`--memory ${JSON.stringify(text)}: not a size (examples: 100M, 100MB, 1G, 104857600)`)
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!)
  // Until it execs the command, the container's init is a Node process, inside the cgroup already.
  if (bytes < MIN_MEMORY) throw usageError(`--memory ${text}: too small (at least 32M): the container's init is a Node process (~20 MB) until it starts the command`)
  return bytes
}

export function parseCpus(text: string): number {
  const cpus = Number(text)
  if (!Number.isFinite(cpus) || cpus <= 0 || !/^\d*\.?\d+$/.test(text.trim())) throw usageError(`--cpus ${JSON.stringify(text)}: not a positive number (example: 0.5)`)
  if (cpus * 100_000 < 1000) throw usageError(`--cpus ${text}: too small (at least 0.01)`)
  const available = os.availableParallelism()
  if (cpus > available) throw usageError(`--cpus ${text}: this machine has ${available} CPUs`)
  return cpus
}

function parsePids(text: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`--pids ${JSON.stringify(text)}: not a whole number`)
  // pids.max counts threads too, and init is a Node process with ~8 threads until it execs the command.
  if (Number(text) < MIN_PIDS) throw usageError(`--pids ${text}: too small (at least ${MIN_PIDS}): the limit counts threads, and the container's init is a Node process with about 8 until it starts the command`)
  return Number(text)
}

/** "8080:80", "5353:53/udp" -> a Publish. A host port can be published once. */
export function parsePublish(text: string, earlier: Publish[] = []): Publish {
  const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text.trim())
  const ports = match ? [Number(match[1]), Number(match[2])] : []
  if (!match || ports.some((p) => p < 1 || p > 65535)) {
    throw usageError(`--publish ${JSON.stringify(text)}: use HOST_PORT:CONTAINER_PORT, ports 1-65535, optionally /tcp or /udp (example: 8080:80)`)
  }
  const publish: Publish = { hostPort: ports[0]!, containerPort: ports[1]!, protocol: (match[3] ?? 'tcp') as 'tcp' | 'udp' }
  if (earlier.some((p) => p.hostPort === publish.hostPort && p.protocol === publish.protocol)) {
    throw usageError(`--publish ${text}: host port ${publish.hostPort}/${publish.protocol} is published twice`)
  }
  return publish
}

/**
 * `HOST_DIR:CONTAINER_DIR[:ro|:rw]` -> a Volume. HOST_DIR may be relative (to the current folder); CONTAINER_DIR
 * must be absolute. Whether HOST_DIR exists is checked by requireVolumeSources, when the engine starts.
 */
export function parseVolume(spec: string): Volume {
  const parts = spec.split(':')
  const [host = '', container = '', mode = 'rw'] = parts
  const bad = (why: string): FriendlyError => usageError(`--volume ${JSON.stringify(spec)}: ${why} (the form is HOST_DIR:CONTAINER_DIR or HOST_DIR:CONTAINER_DIR:ro)`)
  if (parts.length < 2 || parts.length > 3 || !host || !container) throw bad('not a volume')
  if (mode !== 'ro' && mode !== 'rw') throw bad(`unknown mode ${JSON.stringify(mode)}: ro or rw`)
  if (!container.startsWith('/')) throw bad('CONTAINER_DIR must be an absolute path')
  const inside = path.posix.normalize(container).replace(/\/+$/, '')
  if (inside === '' || inside === '/') throw bad('a volume cannot replace the container\'s root')
  return { host: path.resolve(host), container: inside, readOnly: mode === 'ro', spec }
}

/**
 * The engine, before anything starts: every volume's host folder exists and is a folder. Unlike docker's -v (which
 * creates a missing one as root, a classic surprise) and like docker's --mount, a missing folder is an error.
 */
export function requireVolumeSources(volumes: Volume[]): Volume[] {
  for (const volume of volumes) {
    const stat = fs.statSync(volume.host, { throwIfNoEntry: false })
    if (!stat) {
      throw new FriendlyError(`--volume ${volume.spec}: the host folder ${volume.host} does not exist`, {
        hint: `create it first (mkdir -p ${volume.host}): minicontainer does not create it for you, like docker's --mount`,
      })
    }
    if (!stat.isDirectory()) {
      throw new FriendlyError(`--volume ${volume.spec}: ${volume.host} is not a folder`, { hint: 'a volume is a host folder' })
    }
  }
  return volumes
}

/** The kernel takes up to 64 bytes; keep to what DNS and /etc/hosts accept too. */
export function parseHostname(text: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$/.test(text)) {
    throw usageError(`--hostname ${JSON.stringify(text)}: use 1 to 64 letters, digits, dots and dashes, not starting or ending with a dash or dot`)
  }
  return text
}

/** "104857600" -> "100 MiB", for messages. */
export function formatBytes(bytes: number): string {
  // Powers of 1024, so the units are the binary ones: --memory 100M is 100 MiB (104857600 bytes), not 100 MB.
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`
  }
  return `${bytes} bytes`
}
