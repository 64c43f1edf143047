// `npm run bench:pull [-- --runs N] [--from TARBALL|ROOTFS_DIR]`: how fast is a pull?
//
// Side by side, in ONE run, interleaved (a noisy machine slows every row alike), the same image from the same local
// registry (docker-registry on 127.0.0.1 with token auth, the Alpine image in two layers, pushed by skopeo):
//   - the engine's `main.js pull` (solutions/09-images), cold (an empty store: download, verify, unpack, whiteouts)
//     and warm (everything there)
//   - `skopeo copy docker://... oci:DIR` cold (download and verify into an OCI layout, no unpacking) and warm
//   - skopeo copy + `umoci unpack` cold: the same work as ours (the layers unpacked into a root filesystem)
//   - `node -e 0`: one Node start-up, which every minicontainer row pays
// Prints a markdown table (medians) with the machine it ran on. The image: --from, else the installed rootfs.
import { UsageError, parseCommandLine } from '../lib/args.ts'
import { FriendlyError, formatError } from '../lib/errors.ts'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { requireRootfs } from '../lib/rootfs/location.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { startRegistry, type LocalRegistry } from '../checker/registry/registry.ts'
import { buildTestImage, pushImage } from '../checker/registry/test-image.ts'

interface Contender {
  name: string
  /** Runs before each measured run, unmeasured (e.g. an empty store). */
  prepare?: () => void
  argv: () => string[]
  /** Extra environment (the engine's MINICONTAINER_HOME). */
  env?: Record<string, string>
  wall: number[]
  cpu: number[]
}

function childrenCpuMs(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[13]) + Number(fields[14])) * 10
}

/** Async (the token server answers from this process), one at a time. */
async function runOnce(c: Contender, record: boolean): Promise<void> {
  c.prepare?.()
  const argv = c.argv()
  const cpuBefore = childrenCpuMs()
  const start = process.hrtime.bigint()
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: os.tmpdir(), ...c.env },
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('close', (code) => resolve({ code, output }))
  })
  const wall = Number(process.hrtime.bigint() - start) / 1e6
  if (code !== 0) throw new Error(`${c.name} failed (${code}): ${argv.join(' ')}\n${output.slice(-2000)}`)
  if (record) {
    c.wall.push(wall)
    c.cpu.push(childrenCpuMs() - cpuBefore)
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

async function main(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, { runs: { type: 'string' }, from: { type: 'string' } }, { usage: 'usage: npm run bench:pull [-- --runs N] [--from TARBALL|ROOTFS_DIR]' })
  const runs = Number(values.runs ?? 10)
  const from = values.from
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError('--runs needs a whole number >= 1')
  const base = from ? (fs.statSync(from).isDirectory() ? { dir: from } : { tarball: from }) : { dir: requireRootfs() }
  const work = fs.mkdtempSync('/var/tmp/mc-bench-pull-')
  let registry: LocalRegistry | undefined
  try {
    registry = await startRegistry()
    const architecture = os.arch() === 'arm64' ? 'arm64' : 'amd64'
    const image = await buildTestImage({
      base, architecture, deleted: 'etc/motd', opaqueDir: 'etc/apk/keys', opaqueFile: ['k', 'k\n'], replaced: ['etc/issue', 'bench\n'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], workingDir: 'srv', cmd: ['/bin/sh'],
    }, path.join(work, 'layout'), '1')
    await pushImage(image, registry, 'bench/alpine:1')
    const ref = `${registry.host}/bench/alpine:1`
    const size = image.layers.reduce((n, l) => n + l.size, 0)

    // The engine's own command (step 09's solution), each row with a MINICONTAINER_HOME of its own.
    const pull = [process.execPath, path.join(PROJECT_ROOT, 'solutions/09-images/main.js'), 'pull', ref]
    const home = (name: string) => ({ MINICONTAINER_HOME: path.join(work, name) })
    const skopeo = (dir: string) => ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:1`]
    const fresh = (name: string) => () => fs.rmSync(path.join(work, name), { recursive: true, force: true })
    const contenders: Contender[] = [
      { name: '`main.js pull`, cold (download, verify, unpack, whiteouts)', prepare: fresh('cold-home'), argv: () => pull, env: home('cold-home'), wall: [], cpu: [] },
      { name: '`main.js pull`, warm (everything there)', argv: () => pull, env: home('warm-home'), wall: [], cpu: [] },
      { name: '`skopeo copy docker://… oci:DIR`, cold (download, verify)', prepare: fresh('cold-oci'), argv: () => skopeo(path.join(work, 'cold-oci')), wall: [], cpu: [] },
      { name: '`skopeo copy docker://… oci:DIR`, warm (blobs there)', argv: () => skopeo(path.join(work, 'warm-oci')), wall: [], cpu: [] },
      {
        name: '`skopeo copy` + `umoci unpack`, cold (the same work as ours)',
        prepare: () => (fresh('cold-umoci')(), fresh('cold-bundle')()),
        argv: () => ['sh', '-ec', `${skopeo(path.join(work, 'cold-umoci')).join(' ')} && umoci --log error unpack --image ${path.join(work, 'cold-umoci')}:1 ${path.join(work, 'cold-bundle')}`],
        wall: [], cpu: [],
      },
      { name: '`node -e 0`: one Node start-up', argv: () => [process.execPath, '-e', '0'], wall: [], cpu: [] },
    ]
    console.error(`bench:pull: ${ref} (${(size / 1e6).toFixed(1)} MB in ${image.layers.length} layers); 1 warm-up + ${runs} rounds of ${contenders.length} commands, interleaved...`)
    for (const round of [false, ...Array<boolean>(runs).fill(true)]) for (const c of contenders) await runOnce(c, round)

    const coldSkopeo = median(contenders[2]!.wall)
    const rows = contenders.map((c) => `| ${c.name} | ${median(c.wall).toFixed(0)} ms | ${(median(c.wall) / coldSkopeo).toFixed(2)}x | ${mean(c.cpu).toFixed(0)} ms |`)
    const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim()
    console.log([
      `Pull of the Alpine image (${(size / 1e6).toFixed(1)} MB compressed, 2 layers) from docker-registry on 127.0.0.1 with token auth: ${runs} interleaved runs each.`,
      `Machine: ${cpu}, ${os.availableParallelism()} cores, Linux ${os.release()}, Node ${process.version}; load average at the end ${load}.`,
      '',
      '| command | median wall | ratio to skopeo copy (cold) | CPU (user+sys, mean) |',
      '|---|---:|---:|---:|',
      ...rows,
    ].join('\n'))
  } finally {
    await registry?.stop()
    fs.rmSync(work, { recursive: true, force: true })
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(formatError('bench:pull', error))
  process.exitCode = error instanceof FriendlyError ? error.exitCode : 1
})
