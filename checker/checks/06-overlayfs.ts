// Step 06: the rootfs is a read-only image; each container's root is an overlay of it and a layer of its own,
// which goes away with the container; host folders come in as volumes (--volume HOST:CONTAINER[:ro]).
// Judged from the host: the container's root mount (/proc/<pid>/mountinfo) and its layers, a fingerprint of
// the image taken before and after, the host's side of a volume. Containers that write run on a throw-away
// copy of the image with a folder of random files planted in it: a broken engine writes into the copy, and an
// engine that runs the probe on the host (a fake) finds nothing of it there to change.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LAYER_NAME, layersRoot } from '../../lib/layers.ts'
import { fail, requireFact, requireHost, requireLive, type Check, type CheckContext, type TodoId } from '../check.ts'
import { copyTree, fingerprint, overlayLayers, treeDifferences, type OverlayLayers } from '../image.ts'
import { mountsOf, procStat, sameFile, sleep, type MountEntry } from '../proc.ts'
import { PAUSE } from '../probe.ts'
import { randomToken } from '../random.ts'
import { mountsUnder, removeScratch, scratchDir } from '../scratch.ts'


/** The root mount of a process (the topmost at "/"), and its layers when it is an overlay. */
function rootOverlay(mounts: MountEntry[]): { root: MountEntry | undefined; layers: OverlayLayers | undefined } {
  const root = mounts.filter((m) => m.mountPoint === '/').at(-1)
  return { root, layers: root?.fsType === 'overlay' ? overlayLayers(root.superOptions) : undefined }
}

function describeMount(m: MountEntry | undefined): string {
  if (!m) return 'no mount at /'
  return `${m.fsType} (${m.source}${m.root !== '/' ? `, a bind mount of its folder ${m.root}` : ''})`
}

/** The folder of a container's layer: the one holding its upper folder, when that is a layer of the contract. */
function layerFolderOf(layers: OverlayLayers | undefined): string | undefined {
  if (!layers?.upper) return undefined
  const dir = path.dirname(layers.upper)
  return path.dirname(dir) === layersRoot() && LAYER_NAME.test(path.basename(dir)) ? dir : undefined
}

/** Repairs what a broken engine left: a layer folder of the contract, when nothing is mounted in it any more. */
function removeLeftoverLayer(dir: string | undefined): void {
  if (!dir || !fs.existsSync(dir)) return
  if (mountsUnder(dir).length) return // host.clean repairs mounts first
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 })
}

interface ImageCopy {
  dir: string
  image: string
  /** A folder of random name planted in the copy ("/.mc-xxxx" inside): the only place the probes touch. */
  plant: string
}

/**
 * A throw-away copy of the installed image, with a planted folder: keep (a file to change), gone (to delete),
 * mode (to chmod), dir/old (a folder to delete and make again).
 */
function imageCopy(ctx: CheckContext, prefix: string): ImageCopy {
  if (!ctx.rootfs) fail('the Alpine rootfs installed (npm run rootfs)', 'none')
  const dir = scratchDir(prefix)
  ctx.mark(path.basename(dir))
  const image = path.join(dir, 'image')
  copyTree(ctx.rootfs, image)
  const plant = `/.mc-${randomToken('p').slice(2)}`
  const at = path.join(image, plant)
  fs.mkdirSync(path.join(at, 'dir'), { recursive: true, mode: 0o755 })
  fs.writeFileSync(path.join(at, 'keep'), 'original\n', { mode: 0o644 })
  fs.writeFileSync(path.join(at, 'gone'), 'to be deleted\n', { mode: 0o644 })
  fs.writeFileSync(path.join(at, 'mode'), 'to be chmodded\n', { mode: 0o644 })
  fs.writeFileSync(path.join(at, 'dir', 'old'), 'old\n', { mode: 0o644 })
  return { dir, image, plant }
}

export const checks: Check[] = [
  {
    id: '06.overlay',
    title: "the container's root is an overlay: the image below, a layer of its own on top (the kernel's mount table)",
    why: 'with the image itself as root, every container writes into the one copy every other container starts from: one `rm -r /usr` breaks them all.',
    hint: '06.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const root = h.rootMount
      const layers = h.rootOverlay
      if (!layers) fail("the container's root (mount point / in /proc/<pid>/mountinfo) to be an overlay", describeMount(root), p.run)
      ctx.note(`lowerdir=${layers.lower.join(':')} upperdir=${layers.upper} workdir=${layers.work}`)
      const image = ctx.rootfs!
      const real = (dir: string) => {
        try {
          return fs.realpathSync(dir)
        } catch {
          return dir
        }
      }
      if (layers.lower.length !== 1 || real(layers.lower[0]!) !== image) {
        fail(`lowerdir = the image, ${image}`, `lowerdir=${layers.lower.join(':') || 'none'}`, p.run)
      }
      if (!layers.upper || !layers.work) fail('an upperdir and a workdir (a writable layer)', `upperdir=${layers.upper ?? 'none'}, workdir=${layers.work ?? 'none'}: a read-only overlay`, p.run, '06.1')
      const inImage = [layers.upper, layers.work].filter((d) => d === image || d.startsWith(image + '/'))
      if (inImage.length) fail('the layer outside the image', `${inImage.join(', ')} inside it`, p.run, '06.1')
      if (!layerFolderOf(layers)) fail(`the layer in a folder of its own under ${layersRoot()} (upperdir ${layersRoot()}/mc-<id>/upper)`, `upperdir=${layers.upper}`, p.run, '06.1')
      if (layers.upperDev === undefined || layers.upperDev !== layers.workDev) fail('upperdir and workdir on the same filesystem, while the container ran', `devices ${layers.upperDev} and ${layers.workDev}`, p.run, '06.1')
    },
  },
  {
    id: '06.root-mode',
    title: "the container's / has the image's mode and owner, and a user other than root can run a program in it",
    why: "the overlay's root takes its mode from the upper layer: a root-only upper makes `/` drwx------ inside, and every non-root user of the container (an image's `User`, a daemon dropping root) fails with Permission denied.",
    hint: '06.1',
    async run(ctx) {
      if (!ctx.rootfs) fail('the Alpine rootfs installed (npm run rootfs)', 'none')
      const image = fs.statSync(ctx.rootfs)
      const shown = (mode: number, uid: number, gid: number) => `${(mode & 0o7777).toString(8).padStart(4, '0')} ${uid}:${gid}`
      let inside: fs.Stats | undefined
      const r = await ctx.run({
        // busybox su as root asks no password; `id -u` as nobody proves that the shell itself could be started.
        script: `echo "@mc as-nobody=$(su -s /bin/sh nobody -c 'id -u' 2>&1 | tr '\\n' ' ')"; ${PAUSE}`,
        onReady: async ({ pid }) => {
          if (pid !== undefined) inside = fs.statSync(`/proc/${pid}/root/`) // the container's `/`, from the host
        },
      })
      requireLive(r)
      if (!inside) fail("the container's / seen from the host (/proc/<pid>/root)", 'the container was gone', r)
      if (sameFile(inside, '/')) fail("the container's / a root of its own", "the host's / itself", r, '06.2')
      if ((inside.mode & 0o7777) !== (image.mode & 0o7777) || inside.uid !== image.uid || inside.gid !== image.gid) {
        fail(`the container's / as the image's: ${shown(image.mode, image.uid, image.gid)}`, shown(inside.mode, inside.uid, inside.gid), r)
      }
      const nobody = requireFact(r, 'as-nobody').trim()
      if (nobody !== '65534') fail('`su -s /bin/sh nobody -c "id -u"` inside to print 65534', `"${nobody}"`, r)
    },
  },
  {
    id: '06.image-unchanged',
    title: 'the image is byte-identical after a container wrote, deleted, chmodded and replaced files in it',
    why: 'an image is shared by every container started from it, and by the next run: what one container does must land in its own layer only.',
    hint: '06.2',
    async run(ctx) {
      const copy = imageCopy(ctx, 'image')
      try {
        const before = fingerprint(copy.image)
        const d = copy.plant
        let whiteout = 'not looked at'
        const r = await ctx.run({
          flags: ['--rootfs', copy.image],
          script: [
            `echo changed >> ${d}/keep; echo "@mc keep=$(cat ${d}/keep | tr '\\n' ' ')"`,
            `rm ${d}/gone; if [ -e ${d}/gone ]; then echo "@mc gone=still-there"; else echo "@mc gone=deleted"; fi`,
            `chmod 600 ${d}/mode; echo "@mc mode=$(stat -c %a ${d}/mode)"`,
            `rm -r ${d}/dir && mkdir ${d}/dir && echo new > ${d}/dir/new; echo "@mc dir=$(ls ${d}/dir | tr '\\n' ' ')"`,
            `echo fresh > ${d}/fresh; echo "@mc fresh=$(cat ${d}/fresh)"`,
            PAUSE,
          ].join('; '),
          onReady: ({ pid }) => {
            // The deletion, as the layer records it: a whiteout, a character device 0/0 (overlayfs.rst).
            const upper = pid === undefined ? undefined : rootOverlay(mountsOf(pid) ?? []).layers?.upper
            const entry = upper && fs.lstatSync(path.join(upper, d, 'gone'), { throwIfNoEntry: false })
            if (entry) whiteout = entry.isCharacterDevice() && entry.rdev === 0 ? 'a whiteout (character device 0/0)' : 'not a whiteout'
            else if (upper) whiteout = 'nothing'
          },
        })
        requireLive(r)
        const after = fingerprint(copy.image)
        ctx.note(`image: ${before.files} entries, sha256 ${before.digest.slice(0, 16)} before, ${after.digest.slice(0, 16)} after; the deleted file in the upper layer: ${whiteout}`)
        const seen = { keep: 'original changed', gone: 'deleted', mode: '600', dir: 'new', fresh: 'fresh' }
        const wrong = Object.entries(seen).filter(([key, value]) => r.facts.get(key) !== value)
        if (wrong.length) fail("the container to see its own changes (a file appended to, one deleted, one chmodded, a folder replaced, a new file)", wrong.map(([key, value]) => `${key}: "${r.facts.get(key) ?? 'nothing'}" instead of "${value}"`).join('; '), r)
        if (after.digest !== before.digest) fail(`the image (a copy, ${copy.image}) unchanged: the same ${before.files} entries, bytes, modes and times`, `it changed: ${treeDifferences(before, after).join('; ')}`, r)
      } finally {
        removeScratch(copy.dir)
      }
    },
  },
  {
    id: '06.isolation',
    title: "two containers of one image at once: the second sees neither the first's new file nor its deletion",
    why: 'containers of the same image are independent machines: one must never see (or depend on) what another wrote.',
    hint: '06.1',
    async run(ctx) {
      const copy = imageCopy(ctx, 'isolation')
      try {
        const d = copy.plant
        const secret = randomToken('from-a')
        let second: Awaited<ReturnType<CheckContext['run']>> | undefined
        let firstIsOverlay = false
        const first = await ctx.run({
          flags: ['--rootfs', copy.image],
          script: `echo ${secret} > ${d}/from-a; rm ${d}/gone; echo "@mc a-sees=$(cat ${d}/from-a)"; ${PAUSE}`,
          onReady: async ({ pid }) => {
            firstIsOverlay = pid !== undefined && rootOverlay(mountsOf(pid) ?? []).layers !== undefined
            second = await ctx.run({
              flags: ['--rootfs', copy.image],
              script: `echo "@mc b-sees-new=$(cat ${d}/from-a 2>/dev/null || echo nothing)"; if [ -e ${d}/gone ]; then echo "@mc b-sees-gone=yes"; else echo "@mc b-sees-gone=no"; fi`,
            })
          },
        })
        requireLive(first)
        if (requireFact(first, 'a-sees') !== secret) {
          fail('the first container to read back the file it wrote', `"${first.facts.get('a-sees')}"`, first)
        }
        if (!second) fail('a second container started while the first ran', 'none was started', first)
        const seesNew = requireFact(second, 'b-sees-new')
        const seesGone = requireFact(second, 'b-sees-gone')
        if (second.exitCode !== 0) fail('the second container to run (exit status 0) while the first runs', `exit status ${second.exitCode}`, second)
        // Without an overlay both write into the image itself (06.2); with one, they share a layer (06.1).
        const todo = firstIsOverlay ? '06.1' : '06.2'
        if (seesNew !== 'nothing') fail(`the second container not to see ${d}/from-a, written by the first`, `it reads "${seesNew}"`, second, todo)
        if (seesGone !== 'yes') fail(`the second container still to see ${d}/gone (the image's file), which the first deleted`, 'it is gone for the second one too', second, todo)
      } finally {
        removeScratch(copy.dir)
      }
    },
  },
  {
    id: '06.cleanup',
    title: "no overlay mount and no layer folder are left after the container exits",
    why: 'a layer left behind per run fills the disk with dead containers\' files; an overlay left mounted on the host pins them.',
    hint: '06.3',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const layers = h.rootOverlay
      if (!layers?.upper) fail("the container's root to be an overlay with a layer (06.overlay)", describeMount(h.rootMount), p.run, '06.2')
      const left = [...new Set([
        ...p.run.leftoverLayers,
        ...[layers.upper, layers.work].filter((dir): dir is string => dir !== undefined && fs.existsSync(dir)),
      ])]
      const mounted = (mountsOf('self') ?? [])
        .filter((m) => m.fsType === 'overlay' && [layers.upper, layers.work].some((dir) => dir && m.superOptions.includes(dir)))
      try {
        if (mounted.length) {
          fail('no overlay of the container left mounted on the host', mounted.map((m) => `overlay on ${m.mountPoint}`).join(', '), p.run)
        }
        if (left.length) fail("the container's layer (its upper and work folders) gone after it exited", `still there: ${left.join(', ')} (removed by the checker)`, p.run)
        const folder = layerFolderOf(layers)
        if (folder && fs.existsSync(folder)) {
          fail(`the container's layer folder ${folder} gone`, 'still there (removed by the checker)', p.run)
        }
      } finally {
        removeLeftoverLayer(layerFolderOf(layers))
      }
    },
  },
  {
    id: '06.sweep',
    title: 'the layer of an engine killed with SIGKILL is swept away when the next container starts',
    why: 'an engine killed with SIGKILL (the OOM killer, a closed laptop, kill -9) cannot clean up: the next start must, or dead layers pile up.',
    hint: '06.3',
    async run(ctx) {
      let killedLayer: string | undefined
      const killed = await ctx.run({
        keepLayers: true, // what the killed engine left is for the next start to sweep
        script: `echo "@mc started=yes"; ${PAUSE}`,
        onReady: async ({ pid, rootPid }) => {
          if (pid !== undefined) killedLayer = layerFolderOf(rootOverlay(mountsOf(pid) ?? []).layers)
          process.kill(rootPid, 'SIGKILL') // the engine itself, mid-run: its container dies with it (PDEATHSIG)
          // The container's end takes a moment (its mount namespace goes with it): wait, or it looks like a leftover.
          for (let i = 0; i < 500 && pid !== undefined && (procStat(pid)?.state ?? 'Z') !== 'Z'; i++) await sleep(10)
        },
      })
      try {
        requireLive(killed)
        if (!killedLayer) fail(`a container whose root is an overlay with its layer under ${layersRoot()}`, 'no such layer', killed, '06.2')
        const next = await ctx.run({ command: ['/bin/true'] })
        if (next.exitCode !== 0) fail('the next container to run (exit status 0)', `exit status ${next.exitCode}`, next)
        if (fs.existsSync(killedLayer)) fail(`the killed engine's layer ${killedLayer} removed by the next engine's start`, 'still there (removed by the checker)', next)
      } finally {
        removeLeftoverLayer(killedLayer)
      }
    },
  },
  {
    id: '06.volume',
    title: 'a volume (--volume HOST_DIR:CONTAINER_DIR) shows the host folder inside, and a file written inside appears on the host',
    why: "a container's layer goes away with it: data meant to last (a database, build results) goes to a volume, which is the host's folder itself.",
    hint: '06.4',
    async run(ctx) {
      const dir = scratchDir('volume')
      // An image copy: an engine whose root is the image itself would make the mount point in it.
      const copy = imageCopy(ctx, 'volume-image')
      try {
        const [fromHost, fromContainer] = [randomToken('host'), randomToken('container')]
        fs.writeFileSync(path.join(dir, 'from-host'), `${fromHost}\n`)
        const target = `/srv/mc-${randomToken('v').slice(2)}/data`
        let mount: MountEntry | undefined
        const r = await ctx.run({
          flags: ['--rootfs', copy.image, '--volume', `${dir}:${target}`],
          script: `echo "@mc read=$(cat ${target}/from-host 2>&1)"; echo ${fromContainer} > ${target}/from-container && echo "@mc wrote=yes"; ${PAUSE}`,
          onReady: ({ pid }) => void (pid !== undefined && (mount = (mountsOf(pid) ?? []).filter((m) => m.mountPoint === target).at(-1))),
        })
        requireLive(r)
        const read = requireFact(r, 'read')
        const written = path.join(dir, 'from-container')
        const onHost = fs.existsSync(written) ? fs.readFileSync(written, 'utf8').trim() : ''
        ctx.note(`${target} in the container's mount table: ${mount ? `${mount.fsType}, its folder ${mount.root}, ${mount.options}` : 'none'}`)
        if (!mount) fail(`a mount at ${target} in the container's mount table (/proc/<pid>/mountinfo)`, 'none', r)
        if (read !== fromHost) fail(`${target}/from-host inside to be the host's file ("${fromHost}")`, `"${read}"`, r)
        if (onHost !== fromContainer) fail(`${dir}/from-container on the host, written inside ("${fromContainer}")`, onHost ? `"${onHost}"` : 'no such file on the host: the write stayed in the container', r)
      } finally {
        removeScratch(dir)
        removeScratch(copy.dir)
      }
    },
  },
  {
    id: '06.volume-ro',
    title: 'a read-only volume (HOST_DIR:CONTAINER_DIR:ro) refuses writes with EROFS, and the host folder stays as it was',
    why: 'read-only volumes hand a container configuration or sources it must not change; a read-only flag the kernel never applied protects nothing.',
    hint: '06.4',
    async run(ctx) {
      const dir = scratchDir('volume-ro')
      const copy = imageCopy(ctx, 'volume-ro-image')
      try {
        const fromHost = randomToken('host')
        fs.writeFileSync(path.join(dir, 'from-host'), `${fromHost}\n`)
        const target = `/srv/mc-${randomToken('v').slice(2)}/config`
        let mount: MountEntry | undefined
        const r = await ctx.run({
          flags: ['--rootfs', copy.image, '--volume', `${dir}:${target}:ro`],
          script: [
            `echo "@mc read=$(cat ${target}/from-host 2>&1)"`,
            `msg=$( { echo x > ${target}/intruder; } 2>&1 ) && echo "@mc create=ok" || echo "@mc create=$msg"`,
            `msg=$(rm ${target}/from-host 2>&1) && echo "@mc delete=ok" || echo "@mc delete=$msg"`,
            PAUSE,
          ].join('; '),
          onReady: ({ pid }) => void (pid !== undefined && (mount = (mountsOf(pid) ?? []).filter((m) => m.mountPoint === target).at(-1))),
        })
        requireLive(r)
        const [read, create, del] = ['read', 'create', 'delete'].map((key) => requireFact(r, key))
        ctx.note(`${target}: ${mount ? `mounted ${mount.options}` : 'not mounted'}; create: ${create}; delete: ${del}`)
        if (read !== fromHost) fail(`${target}/from-host inside to be the host's file ("${fromHost}")`, `"${read}"`, r)
        const refused = (text: string) => /Read-only file system/.test(text)
        if (!refused(create) || !refused(del)) fail('creating and deleting a file in the read-only volume to fail with EROFS ("Read-only file system")', `create: ${create}; delete: ${del}`, r)
        if (fs.existsSync(path.join(dir, 'intruder')) || !fs.existsSync(path.join(dir, 'from-host'))) {
          fail('the host folder unchanged', 'the container changed it', r)
        }
        if (!mount?.options.split(',').includes('ro')) fail(`the mount at ${target} read-only ("ro") in the container's mount table`, mount ? mount.options : 'no mount there', r)
      } finally {
        removeScratch(dir)
        removeScratch(copy.dir)
      }
    },
  },
  {
    id: '06.volume-missing',
    title: 'a volume whose host folder does not exist: one clear error naming it, exit 125, nothing started, nothing created',
    why: 'docker -v silently creates a missing host folder (owned by root, empty): a typo then runs against an empty folder. An error that names the folder saves that hour.',
    hint: '06.4',
    async run(ctx) {
      const missing = path.join(os.tmpdir(), `mc-missing-${randomToken('m').slice(2)}`)
      ctx.mark(path.basename(missing))
      try {
        const r = await ctx.run({ flags: ['--volume', `${missing}:/data`], script: 'echo "@mc ran=yes"' })
        const lines = r.stderr.trim().split('\n').filter(Boolean)
        if (r.facts.get('ran') === 'yes') fail('the command never to run', 'it ran, without its volume', r)
        if (r.exitCode !== 125) fail('exit status 125 (the engine refused)', r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r)
        if (fs.existsSync(missing)) fail(`${missing} not to be created on the host`, 'the engine created it', r)
        if (/\n\s+at /.test(r.stderr) || lines.length > 2 || !lines[0]?.includes(missing) || !/--volume|-v\b/.test(lines[0] ?? '')) {
          fail(`one error line naming --volume and the missing folder ${missing} (and at most a hint line)`, lines.length ? `"${lines.slice(0, 3).join(' / ').slice(0, 300)}"` : 'nothing on stderr', r)
        }
      } finally {
        fs.rmSync(missing, { recursive: true, force: true })
      }
    },
  },
]
