// Step 09: images, pulled from a real registry on 127.0.0.1 (checker/images.ts) into a private MINICONTAINER_HOME,
// and judged from the host: the store's files and their sha256, the registry's own access log, the container's
// root overlay in /proc/PID/mountinfo, its /proc/PID/environ, status and cwd.
import fs from 'node:fs'
import path from 'node:path'
import { getxattr } from '../../lib/libc.ts'
import { fail, howItEnded, requireFact, requireLive, type Check, type CheckContext } from '../check.ts'
import {
  blobDownloads, imageWorld, layerFolder, listDir, logSettled, misnamedBlobs, privateHome, pull, records, runMainImage, stagingLeftovers,
  type Home,
} from '../images.ts'
import type { RunResult } from '../runner.ts'

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12)
const firstError = (r: RunResult) =>
  r.stderr.split('\n').find((l) => l.startsWith('minicontainer:')) ?? r.stderr.trim().split('\n').at(-1) ?? ''

/** A pull that must have worked (else nothing about it can be judged). */
function requirePulled(r: RunResult, hint?: string): void {
  if (r.exitCode !== 0) fail('the pull to succeed (exit status 0)', `${howItEnded(r)}: ${firstError(r)}`, r, hint)
}

async function withHome(ctx: CheckContext, body: (home: Home) => Promise<void>): Promise<void> {
  const home = privateHome(ctx)
  try {
    await body(home)
  } finally {
    home.done()
  }
}

export const checks: Check[] = [
  {
    id: '09.pull',
    title: 'pull by tag: the manifest of this machine, every blob stored under its sha256',
    why: 'a tag names an index of manifests, one per platform; the store must hold exactly what the registry has for this machine, each file named by the digest of its bytes.',
    hint: '09.1',
    run: (ctx) => withHome(ctx, async (home) => {
      const w = await imageWorld(ctx)
      const { main } = w
      const since = w.registry.accessLog().length
      const r = await pull(ctx, home, `${w.mainRepo}:1`)
      await logSettled(w, w.mainRepo)
      const stored = listDir(home.blobs)
      const other = [main.otherManifest.digest].filter((d) => stored.includes(d.slice(7)))
      if (other.length) fail(`the manifest for this machine (${main.spec.architecture}, ${short(main.manifest.digest)})`, `the index's first entry, the other platform's manifest ${short(main.otherManifest.digest)} (listed first on purpose)`, r, '09.1')
      requirePulled(r)
      const misnamed = misnamedBlobs(home)
      if (misnamed.length) fail('every file in the store named by the sha256 of its bytes', misnamed.join('; '), r, '09.2')
      const expected = [main.index, main.manifest, main.config, ...main.layers].map((d) => d.digest.slice(7)).sort()
      const missing = expected.filter((d) => !stored.includes(d))
      const extra = stored.filter((d) => !expected.includes(d))
      if (missing.length || extra.length) {
        fail('blobs/sha256 holding exactly the index, this platform\'s manifest, its config and its 2 layers', `${missing.length ? `missing ${missing.map((d) => d.slice(0, 12)).join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `also ${extra.map((d) => d.slice(0, 12)).join(', ')}` : ''}`, r)
      }
      const record = records(home).find((x) => x.reference.endsWith(`${w.mainRepo.replace(/^[^/]+\//, '')}:1`))
      if (!record) fail('an image record (images/*.json) for the pulled tag', listDir(home.records).join(', ') || 'none', r)
      if (record.manifest !== main.manifest.digest) fail(`the record naming this platform's manifest ${short(main.manifest.digest)}`, short(record.manifest), r, '09.1')
      const layers = record.layers.map((l) => [l.digest, l.diffId].join(' '))
      const want = main.layers.map((l) => [l.digest, l.diffId].join(' '))
      if (layers.join() !== want.join()) fail("the record's layers, bottom first, with the registry's digests and the config's diff_ids", layers.join(', '), r)
      const foreign = blobDownloads(w, w.mainRepo, since).filter((d) => !expected.includes(d.slice(7)))
      if (foreign.length) fail('no blob of another platform downloaded', `downloaded ${foreign.map(short).join(', ')}`, r, '09.1')
      ctx.note(`${stored.length} blobs, each named by its sha256`)
    }),
  },
  {
    id: '09.verify',
    title: 'a blob whose bytes are not its digest is refused, and nothing of it is stored',
    why: 'the digest is the image\'s identity: a registry, a proxy or a disk that hands over other bytes under the same name must not change what runs.',
    hint: '09.2',
    run: (ctx) => withHome(ctx, async (home) => {
      const w = await imageWorld(ctx)
      const repo = `test/verify-${path.basename(home.dir).slice(-8).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`
      const { image } = await w.another(repo)
      const ref = `${w.registry.host}/${repo}@${image.manifest.digest}`
      const configFile = w.registry.blobFile(image.config.digest)
      const layerFile = w.registry.blobFile(image.layers[1]!.digest)
      const original = { config: fs.readFileSync(configFile), layer: fs.readFileSync(layerFile) }
      const [name, value] = w.variable
      const configText = original.config.toString()
      const anyValue = /"MC_IMAGE=([^"]+)"/.exec(configText)?.[1] ?? value
      // The same size, still valid JSON: only the variable's value differs (what an attacker would change).
      const tampered = Buffer.from(configText.replace(`${name}=${anyValue}`, `${name}=${anyValue.split('').reverse().join('')}`))
      const cases: [string, string, Buffer, string][] = [
        ['the config with one value changed (same size)', configFile, tampered, image.config.digest],
        ['the top layer with bytes added', layerFile, Buffer.concat([original.layer, Buffer.from('more bytes')]), image.layers[1]!.digest],
      ]
      try {
        for (const [what, file, content, digest] of cases) {
          fs.writeFileSync(file, content)
          const r = await pull(ctx, home, ref)
          const stored = listDir(home.blobs)
          if (stored.includes(digest.slice(7))) fail(`${what}: refused, nothing stored under ${short(digest)}`, `blobs/sha256/${short(digest)}... stored (its bytes are not that digest's)${r.exitCode === 0 ? ', and the pull succeeded' : ''}`, r)
          const misnamed = misnamedBlobs(home)
          if (misnamed.length) fail(`${what}: every file in the store named by the sha256 of its bytes`, misnamed.join('; '), r)
          if (r.exitCode === 0) fail(`${what}: the pull refused (a non-zero exit status)`, 'exit status 0', r)
          if (records(home).length) fail(`${what}: no image record after a refused pull`, listDir(home.records).join(', '), r)
          const staging = stagingLeftovers(home)
          if (staging.length) fail(`${what}: nothing half-stored left behind`, staging.join(', '), r)
          fs.writeFileSync(file, file === configFile ? original.config : original.layer)
        }
        // The same image, undamaged: the refusals were about the bytes, not a pull that never works.
        requirePulled(await pull(ctx, home, ref))
      } finally {
        fs.writeFileSync(configFile, original.config)
        fs.writeFileSync(layerFile, original.layer)
      }
    }),
  },
  {
    id: '09.reuse',
    title: 'a second pull downloads nothing; a layer two images share is downloaded and unpacked once',
    why: 'a content-addressed store keeps what it has verified: pulls of images that share a base fetch only what is new, and the base sits on disk once.',
    hint: '09.2',
    run: (ctx) => withHome(ctx, async (home) => {
      const w = await imageWorld(ctx)
      const repo = `test/reuse-${path.basename(home.dir).slice(-8).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`
      const mainRef = await w.pushAs(w.main, repo)
      const entryRef = await w.pushAs(w.entry, `${repo}-entry`)
      const before = await logSettled(w, mainRef)
      requirePulled(await pull(ctx, home, mainRef))
      const afterCold = await logSettled(w, mainRef)
      const cold = blobDownloads(w, mainRef, before)
      const again = await pull(ctx, home, mainRef)
      requirePulled(again)
      await logSettled(w, mainRef)
      const warm = blobDownloads(w, mainRef, afterCold)
      if (warm.length) fail('the second pull of the same image to download no blob', `it downloaded ${warm.map(short).join(', ')} again (the first: ${cold.length})`, again)
      const beforeEntry = await logSettled(w, entryRef)
      const entry = await pull(ctx, home, entryRef)
      requirePulled(entry)
      await logSettled(w, entryRef)
      const fetched = blobDownloads(w, entryRef, beforeEntry).sort()
      const needed = [w.entry.config, w.entry.layers[1]!].map((d) => d.digest).sort()
      if (fetched.join() !== needed.join()) fail(`only what the store lacks downloaded for an image on the same base: its config and top layer (${needed.map(short).join(', ')})`, fetched.map(short).join(', ') || 'nothing', entry)
      const layers = listDir(home.layers)
      const diffIds = [...new Set([...w.main.layers, ...w.entry.layers].map((l) => l.diffId.slice(7)))].sort()
      if (layers.join() !== diffIds.join()) fail(`layers/ holding each of the ${diffIds.length} distinct layers once, named by its diff_id`, layers.map((d) => d.slice(0, 12)).join(', '), entry)
      ctx.note(`cold ${cold.length} blobs, warm 0, the second image ${fetched.length}`)
    }),
  },
  {
    id: '09.layers',
    title: "the container's root is an overlay of the image's layers, top layer first",
    why: 'overlayfs looks a path up in its lower layers left to right: only the image\'s layers in the right order show the image as its build left it.',
    hint: '09.4',
    run: async (ctx) => {
      const w = await imageWorld(ctx)
      const view = await runMainImage(ctx)
      requirePulled(view.pullRun)
      requireLive(view.run!)
      const r = view.run!
      if (!view.overlay) fail('the container\'s / to be an overlay', `a ${view.rootFsType ?? 'unknown'} mount`, r, '06.2')
      const want = [...w.main.layers].reverse().map((l) => layerFolder(view.home, l.diffId))
      const got = view.overlay.lower
      const name = (dir: string) => want.includes(dir) ? `layer ${want.length - want.indexOf(dir)} (${short(path.basename(path.dirname(dir)))})` : dir
      if (got.join(':') !== want.join(':')) {
        const reversed = [...want].reverse().join(':') === got.join(':')
        fail(`lowerdir = the store's layer folders, top layer first: ${want.map(name).join(', ')}`, `${got.map(name).join(', ') || 'none'}${reversed ? ' (bottom first: the base hides what the top layer changed)' : ''}`, r)
      }
    },
  },
  {
    id: '09.whiteouts',
    title: "the image's deletions hold in the container: OCI whiteouts became overlayfs' own",
    why: 'a layer records a deleted file as .wh.NAME and an emptied folder as .wh..wh..opq; overlayfs knows only a 0/0 character device and the trusted.overlay.opaque attribute.',
    hint: '09.3',
    run: async (ctx) => {
      const w = await imageWorld(ctx)
      const view = await runMainImage(ctx)
      requirePulled(view.pullRun)
      const { spec } = w.main
      const top = layerFolder(view.home, w.main.layers[1]!.diffId)
      const left = fs.readdirSync(top, { recursive: true, encoding: 'utf8' }).filter((n) => path.basename(n).startsWith('.wh.'))
      if (left.length) fail("the unpacked top layer without OCI whiteout files (overlayfs does not read them)", `${left.slice(0, 3).join(', ')} in ${top}`, view.pullRun)
      const deleted = fs.lstatSync(path.join(top, spec.deleted), { throwIfNoEntry: false })
      if (!deleted?.isCharacterDevice() || deleted.rdev !== 0) fail(`${spec.deleted} in the top layer: a character device 0/0 (overlayfs' whiteout)`, deleted ? `a ${deleted.isFile() ? 'file' : 'non-device'}` : 'nothing', view.pullRun)
      const opaque = getxattr(path.join(top, spec.opaqueDir), 'trusted.overlay.opaque')
      if (opaque !== 'y') fail(`${spec.opaqueDir} in the top layer marked opaque (trusted.overlay.opaque=y)`, opaque === undefined ? 'no such attribute' : JSON.stringify(opaque), view.pullRun)
      const r = view.run!
      requireLive(r)
      if (requireFact(r, 'deleted') !== 'gone') fail(`/${spec.deleted} gone in the container (the image deleted it)`, 'it is there', r)
      const seen = requireFact(r, 'opaque').trim()
      if (seen !== spec.opaqueFile[0]) fail(`/${spec.opaqueDir} holding only ${spec.opaqueFile[0]} (the image emptied it first)`, seen || 'nothing', r)
    },
  },
  {
    id: '09.config',
    title: "the image's config applied: its Env, WorkingDir and User, seen from the host",
    why: "an image is a program with how to start it: its PATH and variables, the folder it expects to start in, the user it should not run as root instead of.",
    hint: '09.5',
    run: async (ctx) => {
      const w = await imageWorld(ctx)
      const view = await runMainImage(ctx)
      requirePulled(view.pullRun)
      const r = view.run!
      requireLive(r)
      const env = view.environment
      if (!env) fail("to read the command's /proc/PID/environ", 'it was gone', r)
      const [name, value] = w.variable
      if (env.get(name) !== value) fail(`${name}=${value} (the image's Env) in /proc/PID/environ`, env.has(name) ? `${name}=${env.get(name)}` : 'no such variable', r)
      if (env.get('PATH') !== w.path) fail(`PATH=${w.path} (the image's, over the default)`, `PATH=${env.get('PATH')}`, r)
      if (env.get('HOME') !== `/home/${w.user.name}`) fail(`HOME=/home/${w.user.name} (the image's User's home in its /etc/passwd, as docker sets it)`, `HOME=${env.get('HOME')}`, r)
      if (!view.cwdIsWorkingDir) fail(`/proc/PID/cwd = the image's WorkingDir /${w.main.spec.workingDir}`, view.cwd ?? 'unknown', r)
      const { uid, gid, name: user } = w.user
      if (view.uids.some((u) => u !== uid) || view.uids.length === 0) fail(`Uid: ${uid} in /proc/PID/status (the image's User ${user}, from its own /etc/passwd)`, `Uid: ${view.uids.join(' ')}`, r)
      if (view.gids.some((g) => g !== gid) || view.gids.length === 0) fail(`Gid: ${gid} in /proc/PID/status (${user}'s group in the image's /etc/passwd)`, `Gid: ${view.gids.join(' ')}`, r)
    },
  },
  {
    id: '09.entrypoint',
    title: "no command given: the image's Entrypoint with its Cmd; a command given replaces Cmd",
    why: "docker's rule, which every image is built for: Entrypoint is the program, Cmd its default arguments, and a command on the command line replaces only Cmd.",
    hint: '09.5',
    run: (ctx) => withHome(ctx, async (home) => {
      const w = await imageWorld(ctx)
      const ref = await w.pushAs(w.entry, `test/entry-${path.basename(home.dir).slice(-8).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`)
      const cmd = w.entry.spec.cmd!
      // Not there yet: `run` pulls it first, like docker.
      const plain = await ctx.run({ engineArgs: ['run', ref], env: home.env, timeoutMs: 60_000 })
      const expected = `${cmd[0]} ${cmd.slice(1).join(' ')}`
      const got = plain.facts.get('argv')
      if (got !== expected) fail(`the Entrypoint (sh -c 'echo "@mc argv=$0 $*"') run with the Cmd as its arguments: argv=${expected}`, got === undefined ? `${howItEnded(plain)}, ${plain.stdout.trim().slice(0, 120) || 'no output'}` : `argv=${got}`, plain)
      const word = `given-${Math.random().toString(36).slice(2, 8)}`
      const given = await ctx.run({ engineArgs: ['run', ref, '/bin/echo', word], env: home.env })
      if (given.facts.get('argv') !== `/bin/echo ${word}`) fail(`a command given replacing Cmd, after the Entrypoint: argv=/bin/echo ${word}`, given.facts.get('argv') === undefined ? `${howItEnded(given)}, ${given.stdout.trim().slice(0, 120) || 'no output'}` : `argv=${given.facts.get('argv')}`, given)
    }),
  },
]
