// `npm run doctor`: is this machine ready for the workshop? Each check says what it found and, when something is
// wrong, the fix. On a laptop that cannot run containers itself it checks Vagrant, a provider, virtualization, the
// box and the VM, then runs the doctor inside the VM too. Exits 1 when something blocks the workshop.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import kleur from 'kleur'
import { parseCommandLine } from './args.ts'
import { FriendlyError, formatError } from './errors.ts'
import { isRoot, platformName } from './host-requirements.ts'
import { nodeIsNewEnough, supportedNodes, versionAtLeast } from './node-version.ts'
import { currentRootfs, minicontainerHome } from './rootfs/location.ts'
import { whyNoLocalRegistry } from '../checker/registry/registry.ts' // the checker's own test of what step 09 needs
import { PROJECT_ROOT } from './steps.ts'
import { FIX, hostArch, installedBoxes, workshopBoxSource } from './vm/advice.ts'
import { VM_REPO, adviceFor, cgroupStatus, hostCanRunContainers, runInVm, vmStatus } from './vm/remote.ts'

type Level = 'ok' | 'warn' | 'fail'
interface Finding {
  level: Level
  what: string
  detail: string
  fix?: string
}

const findings: Finding[] = []
const report = (level: Level, what: string, detail: string, fix?: string): void => {
  findings.push({ level, what, detail, fix })
  const mark = { ok: kleur.green('ok  '), warn: kleur.yellow('warn'), fail: kleur.red('FAIL') }[level]
  console.log(`${mark} ${what}: ${detail}`)
  if (fix && level !== 'ok') console.log(`     ${kleur.cyan('fix:')} ${fix.replace(/\n/g, '\n          ')}`)
}

/** Runs a command; its trimmed stdout, or undefined when it cannot run or fails. */
function output(command: string, args: string[], timeout = 20_000): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'ignore'] })
  return result.status === 0 ? result.stdout.trim() : undefined
}


// --- everywhere --------------------------------------------------------------------------------------------------

function checkNode(inVm: boolean): void {
  const version = process.versions.node
  if (!nodeIsNewEnough(version)) {
    report('fail', 'Node.js', `v${version} cannot run the TypeScript of this project (it needs Node ${supportedNodes()})`, 'install Node 24 LTS (or let `npm run ...` install it: every npm script does)')
  } else if (inVm && !version.startsWith('24.')) {
    report('warn', 'Node.js', `v${version}; the workshop VM is provisioned with Node 24`, 'vagrant provision')
  } else {
    report('ok', 'Node.js', `v${version}`)
  }
}

const TEXT_FILE = /\.(ts|js|mjs|cjs|json|sh|md|ya?ml)$|(^|\/)(Vagrantfile|node|\.gitattributes|\.gitignore)$/
const SKIP_DIRS = new Set(['node_modules', '.git', '.tools', '.vagrant', '.minicontainer', 'cache', 'dist'])

function* textFiles(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && !SKIP_DIRS.has(entry.name)) yield* textFiles(path.join(dir, entry.name))
    else if (entry.isFile() && TEXT_FILE.test(entry.name)) yield path.join(dir, entry.name)
  }
}

function checkLineEndings(): void {
  let attributes = ''
  try {
    attributes = fs.readFileSync(path.join(PROJECT_ROOT, '.gitattributes'), 'utf8')
  } catch {
    // missing: reported below
  }
  const crlf: string[] = []
  for (const file of textFiles(PROJECT_ROOT)) {
    if (fs.readFileSync(file).includes('\r\n')) crlf.push(path.relative(PROJECT_ROOT, file))
  }
  const renormalize =
    'commit or stash your changes, then:\ngit config core.autocrlf false && git rm -r -q --cached . && git reset --hard'
  if (crlf.length > 0) {
    const some = crlf.slice(0, 5).join(', ') + (crlf.length > 5 ? `, ... (${crlf.length} files)` : '')
    report('fail', 'line endings', `Windows (CRLF) line endings in ${some}: scripts break in the Linux VM`, renormalize)
  } else if (!/eol=lf/.test(attributes)) {
    report('warn', 'line endings', '.gitattributes does not force eol=lf', 'restore .gitattributes from the repository (`* text=auto eol=lf`)')
  } else {
    report('ok', 'line endings', 'LF everywhere (.gitattributes: eol=lf)')
  }
}

/** Free bytes on the filesystem holding `dir` (or its nearest existing parent). */
function freeBytes(dir: string): number {
  let probe = dir
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe)
  const stats = fs.statfsSync(probe)
  return stats.bavail * stats.bsize
}

function checkDisk(dir: string, label: string, neededGiB: number): void {
  const free = freeBytes(dir) / 2 ** 30
  const detail = `${free.toFixed(1)} GiB free for ${label} (${dir})`
  if (free < neededGiB) report('fail', 'disk space', `${detail}, ${neededGiB} GiB needed`, 'free some disk space')
  else if (free < neededGiB * 2) report('warn', 'disk space', `${detail}: tight`, 'free some disk space')
  else report('ok', 'disk space', detail)
}

// --- where containers run (Linux as root, the VM) ------------------------------------------------------------

function checkContainerHost(inVm: boolean): void {
  const reprovision = inVm ? 'on the host: vagrant provision' : undefined
  if (!isRoot()) {
    report('warn', 'root', 'not root: the engine and the checker need root', 'sudo npm run doctor')
  } else {
    report('ok', 'root', 'running as root')
  }

  const cgroups = cgroupStatus()
  if (cgroups.version === 2 && cgroups.memory) report('ok', 'cgroups', cgroups.detail)
  else if (cgroups.version === 1) {
    report('warn', 'cgroups', `${cgroups.detail}: step 03 works, but the lessons describe cgroup v2`, 'use the workshop VM (vagrant up) to practise on cgroup v2')
  } else {
    report('fail', 'cgroups', `${cgroups.detail}: memory limits (step 03) cannot work`,
      reprovision ?? 'boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or use the workshop VM')
  }

  const swaps = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1)
  if (swaps.length === 0) report('ok', 'swap', 'off')
  else {
    report('warn', 'swap', `on (${swaps.map((line) => line.split(/\s+/)[0]).join(', ')}): a container over its memory limit swaps instead of being OOM-killed unless its swap limit is 0`,
      inVm ? 'sudo swapoff -a (vagrant provision keeps it off)' : 'sudo swapoff -a')
  }

  const rootfs = currentRootfs()
  const install = inVm ? 'sudo npm run rootfs (or on the host: vagrant provision)' : 'sudo npm run rootfs  (offline: sudo npm run rootfs -- --from FILE)'
  if (!rootfs) {
    report('fail', 'Alpine rootfs', `not installed in ${path.join(minicontainerHome(), 'rootfs', 'current')}`, install)
  } else {
    const name = `alpine-minirootfs-${rootfs.version}-${rootfs.arch}.tar.gz`
    const pinned = fs.readFileSync(path.join(PROJECT_ROOT, 'lib', 'rootfs', 'SHA512SUMS'), 'utf8')
      .split('\n').some((line) => line.trim().split(/\s+\*?/)[1] === name && line.trim().startsWith(rootfs.sha512))
    const shell = fs.lstatSync(path.join(rootfs.dir, 'bin', 'sh'), { throwIfNoEntry: false })
    if (!pinned) report('fail', 'Alpine rootfs', `${rootfs.dir}: sha512 ${rootfs.sha512.slice(0, 16)}... is not a pinned sum of ${name}`, `${install} -- --force`)
    else if (!shell) report('fail', 'Alpine rootfs', `${rootfs.dir} has no bin/sh (damaged)`, `${install} -- --force`)
    else report('ok', 'Alpine rootfs', `Alpine ${rootfs.version} ${rootfs.arch}, sha512 ${rootfs.sha512.slice(0, 16)}... matches the pinned sum`)
  }
  checkDisk(minicontainerHome(), 'the rootfs and containers', 1)

  // Step 08: the engine speaks rtnetlink itself, but its NAT rules go through the nft program, and the checker
  // builds its test network with ip and nsenter.
  const nft = output('nft', ['--version'])
  const ip = output('ip', ['-V'])
  if (nft && ip) report('ok', 'networking tools', `${nft.split('\n')[0]}; ${ip.split('\n')[0]}`)
  else report('warn', 'networking tools', `${nft ? '' : 'nft (nftables) is missing'}${!nft && !ip ? '; ' : ''}${ip ? '' : 'ip (iproute2) is missing'}: step 08 needs them`, 'sudo apt-get install nftables iproute2')
  // Step 09 pulls from a registry of its own on 127.0.0.1 (the checker's, and `npm run registry`).
  const registry = whyNoLocalRegistry()
  if (registry) report('warn', 'local registry', `step 09: ${registry}`, inVm ? 'vagrant provision, or a newer box' : 'install them (step 09 only)')
  else report('ok', 'local registry', 'docker-registry, skopeo and openssl for step 09')
}

// --- a laptop that needs the VM ------------------------------------------------------------------------------

function checkVagrant(): boolean {
  const version = output('vagrant', ['--version'])?.replace(/^Vagrant\s+/, '')
  if (!version) {
    report('fail', 'Vagrant', 'not installed', FIX.installVagrant)
    return false
  }
  if (!versionAtLeast(version, '2.3.4')) {
    report('fail', 'Vagrant', `${version} is too old (2.3.4 or newer)`, 'install Vagrant 2.4 (https://developer.hashicorp.com/vagrant/install)')
    return false
  }
  report('ok', 'Vagrant', version)
  return true
}

/** The providers found (their Vagrant names), after reporting them. */
function checkProvider(): string[] {
  const plugins = output('vagrant', ['plugin', 'list']) ?? ''
  const vboxManage =
    os.platform() === 'win32'
      ? path.join(process.env.ProgramFiles ?? 'C:\\Program Files', 'Oracle', 'VirtualBox', 'VBoxManage.exe')
      : 'VBoxManage'
  const found: string[] = []
  const vbox = output(vboxManage, ['--version'])
  if (vbox) found.push(`virtualbox ${vbox}`)
  if (output('vmrun', []) !== undefined || /vagrant-vmware-desktop/.test(plugins)) {
    found.push(/vagrant-vmware-desktop/.test(plugins) ? 'vmware_desktop' : 'vmware_desktop (plugin missing: vagrant plugin install vagrant-vmware-desktop)')
  }
  if (output('prlctl', ['--version'])) found.push(/vagrant-parallels/.test(plugins) ? 'parallels' : 'parallels (plugin missing: vagrant plugin install vagrant-parallels)')
  if (output('virsh', ['--version'])) found.push(/vagrant-libvirt/.test(plugins) ? 'libvirt' : 'libvirt (plugin missing: vagrant plugin install vagrant-libvirt)')
  const appleSilicon = os.platform() === 'darwin' && os.arch() === 'arm64'
  const names = found.map((f) => f.split(' ')[0]!)
  if (found.length === 0) {
    report('fail', 'provider', 'no VirtualBox, VMware, Parallels or libvirt found', FIX.installProvider(appleSilicon))
    return names
  }
  if (vbox && appleSilicon && !versionAtLeast(vbox, '7.1')) {
    report('warn', 'provider', `${found.join(', ')}: VirtualBox before 7.1 cannot run VMs on Apple Silicon`, 'install VirtualBox 7.1+, VMware Fusion or Parallels')
    return names
  }
  report('ok', 'provider', found.join(', ') + (process.env.VAGRANT_DEFAULT_PROVIDER ? ` (VAGRANT_DEFAULT_PROVIDER=${process.env.VAGRANT_DEFAULT_PROVIDER})` : ''))
  return names
}

function checkVirtualization(): void {
  const platform = os.platform()
  if (platform === 'linux') {
    const flags = fs.readFileSync('/proc/cpuinfo', 'utf8')
    if (!/\b(vmx|svm)\b/.test(flags) && os.arch() === 'x64') {
      report('warn', 'virtualization', 'the CPU shows no VT-x/AMD-V: VMs will be very slow or not start', 'enable Intel VT-x / AMD-V (SVM) in the BIOS/UEFI settings')
    } else {
      report('ok', 'virtualization', fs.existsSync('/dev/kvm') ? 'hardware virtualization, /dev/kvm present' : 'hardware virtualization')
    }
  } else if (platform === 'win32') {
    const answer = output('powershell', ['-NoProfile', '-Command',
      '$p=Get-CimInstance Win32_Processor; $c=Get-CimInstance Win32_ComputerSystem; "$($p.VirtualizationFirmwareEnabled) $($c.HypervisorPresent)"'], 30_000)
    const [firmware, hyperv] = (answer ?? '').split(/\s+/)
    if (firmware === 'False' && hyperv !== 'True') {
      report('fail', 'virtualization', 'VT-x/AMD-V is disabled in the firmware', 'enable Intel VT-x / AMD-V (SVM) in the BIOS/UEFI settings, then reboot')
    } else if (hyperv === 'True') {
      report('warn', 'virtualization', 'Hyper-V (or WSL2, Virtual Machine Platform, Memory Integrity) is active: VirtualBox then runs VMs slowly (green turtle icon) or not at all',
        'use VirtualBox 7 (it works on top of Hyper-V, slowly) or turn Hyper-V off: `bcdedit /set hypervisorlaunchtype off` in an admin terminal, then reboot (WSL2 stops working until you turn it back on with `bcdedit /set hypervisorlaunchtype auto`)')
    } else report('ok', 'virtualization', answer ? 'VT-x/AMD-V enabled, no Hyper-V' : 'could not be queried (PowerShell); if `vagrant up` fails with VERR_VMX_*, enable VT-x in the BIOS')
  } else if (platform === 'darwin') {
    if (os.arch() === 'arm64') report('ok', 'virtualization', 'Apple Silicon: the VM is arm64 (the box and the Alpine rootfs are chosen for it)')
    else {
      const features = output('sysctl', ['-n', 'machdep.cpu.features']) ?? ''
      if (features && !/\bVMX\b/.test(features)) {
        report('warn', 'virtualization', 'the CPU shows no VT-x', 'VMs need VT-x: use another machine')
      } else report('ok', 'virtualization', 'VT-x')
    }
  }
}

/** Where the VM's box comes from: installed already, or the catalog's download for this provider and CPU (tried). */
async function checkBox(providers: string[]): Promise<void> {
  const named = process.env.MINICONTAINER_BOX
  if (named) {
    const installed = installedBoxes()
    if (installed === undefined) return report('warn', 'box', 'could not list the boxes (vagrant box list failed)', 'vagrant box list')
    if (installed.includes(named)) return report('ok', 'box', `${named} is installed`)
    return report('warn', 'box', `${named} is not installed: \`vagrant up\` downloads it${process.env.MINICONTAINER_BOX_URL ? ` from ${process.env.MINICONTAINER_BOX_URL}` : " from HashiCorp's registry (closing 2026-12-31)"}`,
      `offline: vagrant box add --name ${named} /path/to/the.box`)
  }
  const provider =
    process.env.VAGRANT_DEFAULT_PROVIDER || (providers.includes('virtualbox') || providers.length === 0 ? 'virtualbox' : providers[0]!)
  const source = await workshopBoxSource(provider)
  if (source.ok) report('ok', 'box', source.detail)
  else report('fail', 'box', source.detail, FIX.boxWaysOut(provider, hostArch()))
}

/** Inside the VM: which box it was made from (the workshop box records its recipe). */
function checkBoxRecipe(): void {
  try {
    const box = JSON.parse(fs.readFileSync('/etc/minicontainer-box.json', 'utf8')) as Record<string, string>
    report('ok', 'box', `${box.name} ${box.version} (recipe ${box.recipe_hash}): Debian ${box.debian}, kernel ${box.kernel}, Node ${box.node}`)
  } catch {
    report('ok', 'box', 'not the workshop box (no /etc/minicontainer-box.json): provisioned by vagrant/provision.sh')
  }
}

/** The VM's state; true when it runs (so its own doctor can run). */
function checkVm(): boolean {
  const status = vmStatus()
  const advice = adviceFor(status)
  if (advice) {
    report('fail', 'workshop VM', status.vagrant ? status.detail : 'unknown', advice)
    return false
  }
  report('ok', 'workshop VM', status.detail)
  return true
}

async function main(): Promise<number> {
  const inVm = os.platform() === 'linux' && PROJECT_ROOT === VM_REPO
  const local = hostCanRunContainers()
  console.log(kleur.bold(`minicontainer doctor: ${inVm ? 'inside the workshop VM' : `${platformName()} ${os.arch()}`} (${PROJECT_ROOT})`))
  checkNode(inVm)
  checkLineEndings()
  let vmExit = 0
  if (local.ok || inVm) {
    checkContainerHost(inVm)
    if (inVm) checkBoxRecipe()
  } else {
    console.log(`${kleur.cyan('note')} this machine cannot run the containers itself (${local.reason}): they run in the workshop VM`)
    checkDisk(path.join(os.homedir(), '.vagrant.d'), 'the box and the VM', 10)
    checkVirtualization()
    if (checkVagrant()) {
      await checkBox(checkProvider())
      if (checkVm()) {
        console.log(kleur.bold('\ninside the workshop VM:'))
        vmExit = await runInVm('doctor', [])
      }
    }
  }
  const failed = findings.filter((f) => f.level === 'fail').length
  const warned = findings.filter((f) => f.level === 'warn').length
  console.log(
    failed
      ? kleur.red(`\n${failed} problem(s) block the workshop (see fix: above)`)
      : kleur.green(`\nready${warned ? ` (${warned} warning(s))` : ''}`),
  )
  return failed > 0 || vmExit !== 0 ? 1 : 0
}

if (import.meta.main) {
  try {
    parseCommandLine(process.argv.slice(2), {}, { usage: 'usage: npm run doctor' })
    process.exitCode = await main()
  } catch (error) {
    console.error(formatError('doctor', error))
    process.exitCode = error instanceof FriendlyError ? error.exitCode : 1
  }
}
