// Step 09's world: a real registry on 127.0.0.1 (Debian's docker-registry with token auth, checker/registry), the
// images the checks pull (built from the installed rootfs in two layers, pushed by skopeo), and a private
// MINICONTAINER_HOME per check, so the engine's image store is judged from the host file by file. Started once per
// session, when the first step-09 check asks, and taken down at its end (session.ts).
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { CheckContext } from './check.ts'
import { fail, randomInt } from './check.ts'
import { overlayLayers, type OverlayLayers } from './image.ts'
import { environmentOf } from './containerfs.ts'
import { mountsOf, readText, sameFile } from './proc.ts'
import { PAUSE } from './probe.ts'
import { randomToken } from './random.ts'
import { startRegistry, whyNoLocalRegistry, type LocalRegistry } from './registry/registry.ts'
import { buildTestImage, pushImage, type BuiltImage, type TestImageSpec } from './registry/test-image.ts'
import type { RunResult } from './runner.ts'
import type { TestNetwork } from './test-network.ts'
import { removeScratch, scratchDir } from './scratch.ts'
import { atSessionEnd } from './session.ts'

export interface ImageUser {
  name: string
  uid: number
  gid: number
}

export interface ImageWorld {
  registry: LocalRegistry
  /** The image the checks run: Alpine, then a layer that deletes etc/motd, empties etc/apk/keys, adds a user. */
  main: BuiltImage
  /** main's repository on the registry (host/test/alpine-TOKEN): `${repo}:1` by tag, `${repo}@digest` by digest. */
  mainRepo: string
  /** The same base layer, an Entrypoint and a Cmd (no User). */
  entry: BuiltImage
  user: ImageUser
  /** The image's PATH (the last folder random). */
  path: string
  /** The image's own variable (MC_IMAGE=random). */
  variable: [string, string]
  /** Builds another image on the same base (new random top layer and config), pushed as `host/repo:1`. */
  another(repo: string): Promise<{ image: BuiltImage; ref: string }>
  /** Pushes `image` again under another repository (the registry mounts the blobs it has): the ref by digest. */
  pushAs(image: BuiltImage, repo: string): Promise<string>
}

let world: Promise<ImageWorld> | undefined

/** The session's registry and images (made once). */
export function imageWorld(ctx: CheckContext): Promise<ImageWorld> {
  if (!world) {
    world = makeWorld(ctx.rootfs, ctx.network)
    atSessionEnd(() => {
      world = undefined // the next session (check --watch) starts its own
      imageRun = undefined
    })
  }
  return world
}

function archOfMachine(): 'amd64' | 'arm64' {
  if (process.arch === 'x64') return 'amd64'
  if (process.arch === 'arm64') return 'arm64'
  throw new Error(`no test image for ${process.arch}`)
}

async function makeWorld(rootfs: string | undefined, network: TestNetwork | undefined): Promise<ImageWorld> {
  const why = whyNoLocalRegistry()
  if (why) throw new Error(why)
  if (!rootfs || !fs.existsSync(path.join(rootfs, 'etc/motd')) || !fs.existsSync(path.join(rootfs, 'etc/apk/keys'))) {
    throw new Error('the test images are built from the Alpine rootfs (etc/motd, etc/apk/keys): install it with `npm run rootfs`')
  }
  const registry = await startRegistry()
  atSessionEnd(() => registry.stop())
  // From step 08 on the engine runs in a test network whose 127.0.0.1 is its own: the registry and its token server
  // answer there too, at the same addresses (the token realm the registry names stays right).
  for (const port of network ? [Number(registry.host.split(':')[1]), Number(new URL(registry.tokens.realm).port)] : []) {
    await network!.forwardLoopback(port)
  }
  const layouts = scratchDir('images')
  atSessionEnd(() => removeScratch(layouts))
  const token = randomToken('mc').slice(3)
  const user: ImageUser = { name: `mc${token.slice(0, 6)}`, uid: randomInt(2000, 60000), gid: randomInt(2000, 60000) }
  const imagePath = `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/${randomToken('mc')}/bin`
  const variable: [string, string] = ['MC_IMAGE', randomToken('value')]
  const passwd = fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8')
  let count = 0
  const spec = (extra: Partial<TestImageSpec> = {}): TestImageSpec => ({
    base: { dir: rootfs },
    architecture: archOfMachine(),
    deleted: 'etc/motd',
    opaqueDir: 'etc/apk/keys',
    opaqueFile: [`${randomToken('key')}.rsa.pub`, 'not a key\n'],
    replaced: ['etc/passwd', `${passwd.trimEnd()}\n${user.name}:x:${user.uid}:${user.gid}::/home/${user.name}:/bin/sh\n`],
    env: [`PATH=${imagePath}`, variable.join('=')],
    workingDir: `srv/${randomToken('app')}`,
    cmd: ['/bin/sh'],
    user: user.name,
    ...extra,
  })
  const build = (s: TestImageSpec) => buildTestImage(s, path.join(layouts, `layout-${++count}`), '1')
  const main = await build(spec())
  const entry = await build(spec({
    user: undefined,
    entrypoint: ['/bin/sh', '-c', 'echo "@mc argv=$0 $*"'],
    cmd: ['/bin/echo', `@mc argv=cmd-only-${randomToken('cmd')}`],
  }))
  const mainRepo = `test/alpine-${token}`
  await pushImage(main, registry, `${mainRepo}:1`)
  const pushAs = async (image: BuiltImage, repo: string): Promise<string> => {
    await pushImage(image, registry, `${repo}:1`)
    return `${registry.host}/${repo}@${image.manifest.digest}`
  }
  return {
    registry,
    main,
    mainRepo: `${registry.host}/${mainRepo}`,
    entry,
    user,
    path: imagePath,
    variable,
    another: async (repo) => {
      const image = await build(spec())
      await pushImage(image, registry, `${repo}:1`)
      return { image, ref: `${registry.host}/${repo}:1` }
    },
    pushAs,
  }
}

// ---- A private MINICONTAINER_HOME -----------------------------------------------------------------------------------
export interface Home {
  dir: string
  env: Record<string, string>
  /** The store's folders, as the engine must lay them out (lib/oci/store.ts). */
  blobs: string
  layers: string
  records: string
  /** Removes it; fails the check if a container's layer was left in it. */
  done(): void
}

export function privateHome(ctx: CheckContext): Home {
  const dir = scratchDir('home')
  ctx.mark(path.basename(dir))
  const images = path.join(dir, 'images')
  return {
    dir,
    env: { MINICONTAINER_HOME: dir },
    blobs: path.join(images, 'blobs', 'sha256'),
    layers: path.join(images, 'layers'),
    records: path.join(images, 'images'),
    done: () => {
      const containers = path.join(dir, 'containers')
      const left = fs.existsSync(containers) ? fs.readdirSync(containers) : []
      removeScratch(dir)
      if (left.length) fail('no container layer left after the engine exited', `left in ${containers}: ${left.join(', ')}`)
    },
  }
}

export const listDir = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [])

/** The store's blob files whose content is not what their name says: "NAME has sha256 OTHER". */
export function misnamedBlobs(home: Home): string[] {
  return listDir(home.blobs).flatMap((hex) => {
    const file = path.join(home.blobs, hex)
    if (!fs.statSync(file).isFile()) return [`${hex} is not a file`]
    const got = createHash('sha256').update(fs.readFileSync(file)).digest('hex')
    return got === hex ? [] : [`blobs/sha256/${hex.slice(0, 12)}... holds bytes whose sha256 is ${got.slice(0, 12)}...`]
  })
}

/** Unfinished work the engine left in its store (names only a killed pull may leave). */
export function stagingLeftovers(home: Home): string[] {
  return listDir(path.join(home.dir, 'images')).filter((n) => n.startsWith('.staging'))
}

/** The image records the engine wrote (images/*.json), parsed. */
export function records(
  home: Home,
): { reference: string; manifest: string; config: string; layers: { digest: string; diffId: string }[] }[] {
  return listDir(home.records).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(fs.readFileSync(path.join(home.records, n), 'utf8')))
}

/** The layer folder of a diff_id in the store: what must be a lowerdir. */
export const layerFolder = (home: Home, diffId: string): string => path.join(home.layers, diffId.replace(/^sha256:/, ''), 'fs')

/** The registry's blob downloads of `repo` (host/name...) since `since` entries of its access log. */
export function blobDownloads(world: ImageWorld, repo: string, since: number): string[] {
  const name = repoName(repo)
  return world.registry.accessLog().slice(since)
    .filter((e) => e.method === 'GET' && e.status < 400 && e.path.startsWith(`/v2/${name}/blobs/`)) // not the 401 before a token
    .map((e) => e.path.split('/').pop()!)
}

/**
 * Waits until the registry's access log has no new line for `repo` (host/name...) for 150 ms (at most 3 s): the
 * registry logs a request after answering it, so its line may come after the client is done. Returns the log's
 * length then.
 */
export async function logSettled(world: ImageWorld, repo: string): Promise<number> {
  const name = repoName(repo)
  const count = () => world.registry.accessLog().filter((e) => e.path.startsWith(`/v2/${name}/`)).length
  const deadline = Date.now() + 3000
  let seen = count()
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 150))
    const now = count()
    if (now === seen || Date.now() > deadline) return world.registry.accessLog().length
    seen = now
  }
}

/** test/alpine of 127.0.0.1:5000/test/alpine:1 or ...@sha256:... */
const repoName = (repo: string): string => repo.replace(/^[^/]+\//, '').replace(/[@:].*$/, '')

/** The engine's `pull IMAGE` with a private home. */
export function pull(ctx: CheckContext, home: Home, ref: string): Promise<RunResult> {
  return ctx.run({ engineArgs: ['pull', ref], env: home.env, timeoutMs: 60_000 })
}

// ---- The image, run: one run judged by several checks ------------------------------------------------------------
export interface ImageRunView {
  home: Home
  pullRun: RunResult
  run: RunResult | undefined
  /** The container's root mount's layers (from /proc/PID/mountinfo), when it is an overlay. */
  overlay: OverlayLayers | undefined
  rootFsType: string | undefined
  environment: Map<string, string> | undefined
  /** The Uid: and Gid: lines of /proc/PID/status (real, effective, saved, filesystem). */
  uids: number[]
  gids: number[]
  /** /proc/PID/cwd is the image's WorkingDir inside the container's root (the same inode). */
  cwdIsWorkingDir: boolean
  cwd: string | undefined
}

let imageRun: Promise<ImageRunView> | undefined

/** main, pulled by digest into a home of its own, run with a probe that pauses while the host looks at it. */
export function runMainImage(ctx: CheckContext): Promise<ImageRunView> {
  imageRun ??= (async () => {
    const w = await imageWorld(ctx)
    const home = privateHome(ctx)
    atSessionEnd(() => removeScratch(home.dir))
    const ref = `${w.mainRepo}@${w.main.manifest.digest}`
    const pullRun = await pull(ctx, home, ref)
    const view: ImageRunView = {
      home,
      pullRun,
      run: undefined,
      overlay: undefined,
      rootFsType: undefined,
      environment: undefined,
      uids: [],
      gids: [],
      cwdIsWorkingDir: false,
      cwd: undefined,
    }
    if (pullRun.exitCode !== 0) return view
    const { spec } = w.main
    const script = [
      `if [ -e /${spec.deleted} ]; then echo "@mc deleted=visible"; else echo "@mc deleted=gone"; fi`,
      `echo "@mc opaque=$(ls -A /${spec.opaqueDir} | tr '\\n' ' ')"`,
      `echo "@mc whiteouts=$(ls -A /etc /${spec.opaqueDir} | grep -c '^\\.wh\\.')"`,
      PAUSE,
    ].join('\n')
    view.run = await ctx.run({
      flags: [ref],
      script,
      env: home.env,
      timeoutMs: 30_000,
      onReady: ({ pid }) => {
        if (pid === undefined) return
        const root = (mountsOf(pid) ?? []).filter((m) => m.mountPoint === '/').at(-1)
        view.rootFsType = root?.fsType
        view.overlay = root?.fsType === 'overlay' ? overlayLayers(root.superOptions) : undefined
        view.environment = environmentOf(pid)
        const status = readText(`/proc/${pid}/status`) ?? ''
        const ids = (key: string) =>
          (status.split('\n').find((l) => l.startsWith(`${key}:`)) ?? '').split(/\s+/).slice(1).filter(Boolean).map(Number)
        view.uids = ids('Uid')
        view.gids = ids('Gid')
        try {
          const cwd = fs.statSync(`/proc/${pid}/cwd`)
          const workingDir = fs.statSync(path.join(`/proc/${pid}/root`, spec.workingDir))
          view.cwdIsWorkingDir = sameFile(cwd, workingDir)
          view.cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
        } catch (error) {
          view.cwd = `(${(error as Error).message})`
        }
      },
    })
    return view
  })()
  return imageRun
}
