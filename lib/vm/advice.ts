// The fixes a laptop user is told, one home for `npm run doctor` and the host -> VM path (remote.ts): each is the
// command (or the one thing to install) that makes the problem go away.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT } from '../steps.ts'

export const WORKSHOP_BOX = 'minicontainer/workshop'

export const FIX = {
  installVagrant: 'install Vagrant 2.4 (https://developer.hashicorp.com/vagrant/install, or your package manager), then `vagrant up`; see vagrant/README.md',
  vagrantBroken: 'run `vagrant status` in the repository folder to see what Vagrant says',
  installProvider: (appleSilicon: boolean): string =>
    appleSilicon
      ? 'Apple Silicon: install VMware Fusion (free) + `vagrant plugin install vagrant-vmware-desktop` + the Vagrant VMware Utility, or Parallels + `vagrant plugin install vagrant-parallels`, or VirtualBox 7.1+; then `vagrant up`'
      : 'install VirtualBox 7 (https://www.virtualbox.org), or use VMware, Parallels or libvirt with their Vagrant plugin; then `vagrant up`',
  createVm: 'run `vagrant up` in the repository folder (the first time takes a few minutes), then this again',
  resumeVm: 'run `vagrant resume` (or `vagrant up`), then this again',
  startVm: 'run `vagrant up`, then this again',
  startAbortedVm: 'run `vagrant up` (if that fails: `vagrant reload`, or `vagrant destroy -f && vagrant up`)',
  sshRefused: 'run `vagrant reload` (`vagrant ssh` shows the details)',
  addBox: (file: string): string => `vagrant box add --name ${WORKSHOP_BOX} ${file}`,
  /** The three ways out when the workshop box cannot be had (the Vagrantfile says the same at `vagrant up`). */
  boxWaysOut: (provider: string, arch: string): string =>
    `your instructor's box file: ${FIX.addBox(`minicontainer-workshop-<version>-${provider}-${arch}.box`)}; or build it (Linux, root): sudo npm run vm:box; or a public box: MINICONTAINER_BOX=bento/ubuntu-24.04 vagrant up`,
}

export interface CatalogEntry {
  version: string
  provider: string
  architecture: string
  url: string
}

/** The catalog the Vagrantfile resolves the workshop box through. */
export function catalogFile(): string {
  return path.resolve(process.env.MINICONTAINER_BOX_CATALOG || path.join(PROJECT_ROOT, 'vagrant', 'box', 'catalog.json'))
}

/** The box's download for this provider and CPU (newest version first), or why there is none. */
export function catalogEntry(provider: string, arch = hostArch()): { entry: CatalogEntry } | { problem: string } {
  const file = catalogFile()
  let data: { versions?: { version: string; providers?: { name: string; url?: string; architecture?: string }[] }[] }
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    return { problem: `the box catalog ${file} cannot be read (${(error as Error).message.split('\n')[0]})` }
  }
  const newestFirst = [...(data.versions ?? [])].sort((a, b) => compareVersions(b.version, a.version))
  for (const version of newestFirst) {
    const p = version.providers?.find((p) => p.name === provider && (p.architecture ?? 'amd64') === arch && p.url)
    if (p) return { entry: { version: version.version, provider, architecture: arch, url: p.url! } }
  }
  return { problem: `the box catalog (${path.relative(PROJECT_ROOT, file) || file}) has no download for ${provider} on ${arch} yet` }
}

/** A workshop box file for this provider and CPU in the offline copy's folder (the Vagrantfile uses it first). */
export function cachedBox(provider: string, arch = hostArch()): string | undefined {
  const dir = process.env.MINICONTAINER_CACHE || path.join(PROJECT_ROOT, 'cache')
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return undefined
  }
  const version = (name: string): string => /^minicontainer-workshop-([\d.]+)-/.exec(name)?.[1] ?? '0'
  const found = names.filter((n) => n.startsWith('minicontainer-workshop-') && n.endsWith(`-${provider}-${arch}.box`))
  const newest = found.sort((a, b) => compareVersions(version(b), version(a)))[0]
  return newest ? path.join(dir, newest) : undefined
}

/** Vagrant's name for this CPU (MINICONTAINER_BOX_ARCH wins, as in the Vagrantfile). */
export function hostArch(): string {
  const arch = process.env.MINICONTAINER_BOX_ARCH || os.arch()
  return /^(arm64|aarch64)/.test(arch) ? 'arm64' : 'amd64'
}

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}

/** Can the box file at URL be had? undefined when yes, else why not (file:// exists; http(s): the first byte comes). */
export async function downloadProblem(url: string): Promise<string | undefined> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return `${url} is not a URL`
  }
  if (parsed.protocol === 'file:') {
    let file = decodeURIComponent(parsed.pathname)
    if (/^\/[A-Za-z]:\//.test(file)) file = file.slice(1)
    return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ? undefined : `${file}: no such file`
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `${url}: not a file, http or https URL`
  try {
    const response = await fetch(url, { headers: { Range: 'bytes=0-0' }, redirect: 'follow', signal: AbortSignal.timeout(15_000) })
    await response.body?.cancel()
    return response.ok ? undefined : `HTTP ${response.status} ${response.statusText}`
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    return `${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`
  }
}

/** The boxes Vagrant has (names), or undefined when `vagrant box list` fails. */
export function installedBoxes(): string[] | undefined {
  const result = spawnSync('vagrant', ['box', 'list', '--machine-readable'], { encoding: 'utf8', timeout: 60_000 })
  if (result.status !== 0) return undefined
  return result.stdout.split(/\r?\n/).map((line) => line.split(',')).filter((p) => p[2] === 'box-name').map((p) => p[3]!)
}

/** Where `vagrant up` would get the workshop box for this provider and CPU (installed, cache/, the catalog's
 * download, tried), or why it cannot: the one home for doctor's box check and the host -> VM path's message. */
export async function workshopBoxSource(provider: string, arch = hostArch()): Promise<{ ok: boolean; detail: string }> {
  if (installedBoxes()?.includes(WORKSHOP_BOX)) return { ok: true, detail: `${WORKSHOP_BOX} is installed` }
  const offline = cachedBox(provider, arch)
  if (offline) return { ok: true, detail: `${WORKSHOP_BOX} (${provider}, ${arch}): \`vagrant up\` takes it from ${path.relative(PROJECT_ROOT, offline)}, no download` }
  const found = catalogEntry(provider, arch)
  if ('problem' in found) return { ok: false, detail: `${WORKSHOP_BOX} is not installed and ${found.problem}` }
  const problem = await downloadProblem(found.entry.url)
  if (problem) return { ok: false, detail: `${WORKSHOP_BOX} is not installed and its download fails (${problem})` }
  return { ok: true, detail: `${WORKSHOP_BOX} ${found.entry.version} (${provider}, ${arch}): \`vagrant up\` downloads it from ${found.entry.url} (catalog ${path.relative(PROJECT_ROOT, catalogFile())})` }
}
