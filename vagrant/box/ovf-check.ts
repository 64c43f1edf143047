// Checks a box's OVF descriptor the way VirtualBox's OVF reader reads it (src/VBox/Main/xml/ovfreader.cpp: the
// errors it throws, and what `vagrant up` on VirtualBox then needs): no VirtualBox can be installed on the CI machine,
// so its reading rules are applied here instead.
//
//   sh bin/node vagrant/box/ovf-check.ts BOX.ovf [DISK.vmdk]   exit 0 and a summary, or 1 and every problem
import fs from 'node:fs'
import path from 'node:path'

export interface XmlElement {
  /** Local name (prefix removed), e.g. "Item" for <Item>, "ResourceType" for <rasd:ResourceType>. */
  name: string
  prefix: string | undefined
  attributes: Record<string, string>
  children: XmlElement[]
  text: string
  line: number
}

/** A small, strict XML reader for descriptors like OVF: elements, attributes, text; no DTDs, no entities but the five. */
export function parseXml(source: string): XmlElement {
  const decode = (s: string): string =>
    s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!)
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  const token = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<\/([\w:.-]+)\s*>|<([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g
  let match: RegExpExecArray | null
  let consumed = 0
  while ((match = token.exec(source))) {
    if (match.index !== consumed) break
    consumed = token.lastIndex
    const line = source.slice(0, match.index).split('\n').length
    const [, closing, opening, attrs, selfClosing, text] = match
    if (text !== undefined) {
      if (stack.length) stack.at(-1)!.text += decode(text)
      else if (text.trim()) throw new Error(`line ${line}: text outside the root element`)
    } else if (closing) {
      const open = stack.pop()
      if (!open || (open.prefix ? `${open.prefix}:${open.name}` : open.name) !== closing) {
        throw new Error(`line ${line}: </${closing}> closes ${open ? `<${open.prefix ? `${open.prefix}:` : ''}${open.name}>` : 'nothing'}`)
      }
    } else if (opening) {
      const [prefix, name] = opening.includes(':') ? opening.split(':', 2) : [undefined, opening]
      const attributes: Record<string, string> = {}
      for (const a of (attrs ?? '').matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attributes[a[1]!] = decode(a[2] ?? a[3] ?? '')
      const element: XmlElement = { name: name!, prefix, attributes, children: [], text: '', line }
      if (stack.length) stack.at(-1)!.children.push(element)
      else if (root) throw new Error(`line ${line}: a second root element`)
      else root = element
      if (!selfClosing) stack.push(element)
    }
  }
  if (consumed !== source.length) throw new Error(`line ${source.slice(0, consumed).split('\n').length}: not well-formed XML`)
  if (stack.length) throw new Error(`<${stack.at(-1)!.name}> (line ${stack.at(-1)!.line}) is never closed`)
  if (!root) throw new Error('no root element')
  return root
}

const child = (e: XmlElement, name: string): XmlElement | undefined => e.children.find((c) => c.name === name)
const children = (e: XmlElement, name: string): XmlElement[] => e.children.filter((c) => c.name === name)
/** An attribute as ovfreader looks it up: by local name (ovf:diskId and diskId alike). */
const attr = (e: XmlElement, name: string): string | undefined =>
  Object.entries(e.attributes).find(([key]) => key === name || key.endsWith(`:${name}`))?.[1]

const OVF10 = 'http://schemas.dmtf.org/ovf/envelope/1'
const STREAM_OPTIMIZED = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized'
const MEMORY_UNITS = ['MegaBytes', 'MB', 'byte * 2^20']
/** The resource types ovfreader handles; any other required item is an error there. */
const KNOWN_TYPES = new Set([3, 4, 5, 6, 10, 14, 15, 17, 20, 23, 35])

export interface OvfSummary {
  cpus: number
  memoryMiB: number
  disks: { href: string; capacity: number; controller: string }[]
  nics: string[]
  osType: string | undefined
}

/** The problems VirtualBox would have with this descriptor (empty: none), and what it would import. */
export function checkOvf(xml: string): { problems: string[]; summary: OvfSummary } {
  const problems: string[] = []
  const summary: OvfSummary = { cpus: 0, memoryMiB: 0, disks: [], nics: [], osType: undefined }
  let envelope: XmlElement
  try {
    envelope = parseXml(xml)
  } catch (error) {
    return { problems: [`not XML VirtualBox can read: ${(error as Error).message}`], summary }
  }
  if (envelope.name !== 'Envelope') problems.push('the root element must be "Envelope"')
  const ns = envelope.attributes[envelope.prefix ? `xmlns:${envelope.prefix}` : 'xmlns']
  if (!ns) problems.push("no namespace URI on 'Envelope'")
  else if (ns !== OVF10) problems.push(`the Envelope namespace is ${ns}, not OVF 1.0's ${OVF10}`)

  const files = new Map<string, XmlElement>()
  for (const file of children(child(envelope, 'References') ?? envelope, 'File')) {
    const id = attr(file, 'id')
    if (!id) problems.push(`line ${file.line}: File without ovf:id`)
    else files.set(id, file)
    if (!attr(file, 'href')) problems.push(`line ${file.line}: missing or invalid attribute 'href' in 'File' element`)
  }
  const disks = new Map<string, { href: string; capacity: number }>()
  for (const disk of children(child(envelope, 'DiskSection') ?? { children: [] } as unknown as XmlElement, 'Disk')) {
    const id = attr(disk, 'diskId')
    const format = attr(disk, 'format')
    const capacity = Number(attr(disk, 'capacity'))
    if (!id) problems.push(`line ${disk.line}: missing or invalid attribute 'diskId' in 'DiskSection' element`)
    if (!format) problems.push(`line ${disk.line}: missing or invalid attribute 'format' in 'DiskSection' element`)
    else if (format !== STREAM_OPTIMIZED) problems.push(`line ${disk.line}: disk format ${format}: VirtualBox imports ${STREAM_OPTIMIZED}`)
    if (!Number.isInteger(capacity) || capacity <= 0) problems.push(`line ${disk.line}: missing or invalid attribute 'capacity' in 'DiskSection' element`)
    const ref = attr(disk, 'fileRef')
    const file = ref ? files.get(ref) : undefined
    if (ref && !file) problems.push(`line ${disk.line}: cannot find References/File element for ID '${ref}' referenced by 'Disk' element`)
    if (id) disks.set(id, { href: file ? (attr(file, 'href') ?? '') : '', capacity })
  }
  if (disks.size === 0) problems.push('no Disk in a DiskSection: nothing to boot from')

  const systems = children(envelope, 'VirtualSystem')
  if (systems.length !== 1) problems.push(`${systems.length} VirtualSystem elements: a Vagrant box has exactly one`)
  const system = systems[0]
  if (!system) return { problems, summary }
  const os = child(system, 'OperatingSystemSection')
  if (!os || !/^\d+$/.test(attr(os, 'id') ?? '')) problems.push("missing or invalid 'ovf:id' attribute in operating system section element")
  summary.osType = os ? child(os, 'OSType')?.text.trim() : undefined
  const hardware = child(system, 'VirtualHardwareSection')
  if (!hardware) {
    problems.push('no VirtualHardwareSection')
    return { problems, summary }
  }
  const items = hardware.children.filter((c) => ['Item', 'StorageItem', 'EthernetPortItem'].includes(c.name))
  const value = (item: XmlElement, name: string): string | undefined => child(item, name)?.text.trim()
  const controllers = new Map<number, string>()
  for (const item of items) {
    const type = Number(value(item, 'ResourceType') ?? 0)
    const id = Number(value(item, 'InstanceID') ?? value(item, 'InstanceId') ?? 0)
    const subtype = value(item, 'ResourceSubType') ?? ''
    if (!type) problems.push(`line ${item.line}: empty element ResourceType under Item`)
    if (!id && [5, 6, 20].includes(type)) problems.push(`line ${item.line}: element InstanceID is absent under a controller Item`)
    if (type === 3) summary.cpus = Number(value(item, 'VirtualQuantity'))
    else if (type === 4) {
      const units = value(item, 'AllocationUnits') ?? ''
      if (!MEMORY_UNITS.includes(units)) problems.push(`line ${item.line}: invalid allocation unit "${units}" specified with memory size item`)
      summary.memoryMiB = Number(value(item, 'VirtualQuantity'))
    } else if (type === 5 || type === 6) controllers.set(id, type === 5 ? 'IDE' : `SCSI ${subtype}`)
    else if (type === 20) {
      if (/^(AHCI|vmware\.sata\.ahci)$/i.test(subtype)) controllers.set(id, 'SATA AHCI')
      else if (/^VirtioSCSI$/i.test(subtype)) controllers.set(id, 'virtio-scsi')
      else problems.push(`line ${item.line}: "Other Storage Device (20)" is supported with SATA AHCI controllers only (subtype: ${subtype})`)
    } else if (type === 10) {
      summary.nics.push(`${subtype || 'default'} on ${value(item, 'Connection') ?? '?'}`)
      if (subtype && !/^(E1000|PCNet32|PCNetPCII|PCNetFast|virtio)$/i.test(subtype)) problems.push(`line ${item.line}: NIC type ${subtype} is not one VirtualBox emulates`)
    } else if (!KNOWN_TYPES.has(type) && item.attributes['ovf:required'] !== 'false') {
      problems.push(`line ${item.line}: unknown resource type ${type} in hardware item`)
    }
  }
  for (const item of items.filter((i) => Number(value(i, 'ResourceType')) === 17)) {
    const parent = Number(value(item, 'Parent') ?? 0)
    const controller = controllers.get(parent)
    if (!controller) problems.push(`line ${item.line}: disk item specifies invalid parent ${parent}`)
    const resource = value(item, 'HostResource') ?? ''
    const diskId = /^(?:ovf:\/\/disk\/|ovf:\/disk\/|\/disk\/)(.+)$/.exec(resource)?.[1]
    const disk = diskId ? disks.get(diskId) : undefined
    if (!disk) problems.push(`line ${item.line}: disk item specifies invalid host resource "${resource}"`)
    else summary.disks.push({ href: disk.href, capacity: disk.capacity, controller: controller ?? '?' })
  }
  if (!summary.cpus) problems.push('no CPU item (ResourceType 3)')
  if (!summary.memoryMiB) problems.push('no memory item (ResourceType 4)')
  if (summary.disks.length === 0) problems.push('no hard disk item (ResourceType 17) attached to a controller')
  if (summary.nics.length === 0) problems.push('no Ethernet adapter (ResourceType 10): Vagrant needs NAT on adapter 1')
  return { problems, summary }
}

/** A streamOptimized VMDK as VirtualBox imports it: the sparse magic "KDMV" and the descriptor's createType. */
export function checkVmdk(file: string): string[] {
  const head = Buffer.alloc(64 * 1024)
  const fd = fs.openSync(file, 'r')
  try {
    fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  const problems: string[] = []
  if (head.subarray(0, 4).toString('latin1') !== 'KDMV') problems.push(`${path.basename(file)}: not a sparse VMDK (no KDMV magic)`)
  if (!/createType="streamOptimized"/.test(head.toString('latin1'))) problems.push(`${path.basename(file)}: the descriptor is not createType="streamOptimized"`)
  return problems
}

function main(): number {
  const [ovfFile, vmdk] = process.argv.slice(2)
  if (!ovfFile) {
    console.error('usage: ovf-check.ts BOX.ovf [DISK.vmdk]')
    return 2
  }
  const { problems, summary } = checkOvf(fs.readFileSync(ovfFile, 'utf8'))
  if (vmdk) {
    problems.push(...checkVmdk(vmdk))
    if (!summary.disks.some((d) => d.href === path.basename(vmdk))) problems.push(`the OVF does not reference ${path.basename(vmdk)}`)
  }
  for (const problem of problems) console.error(`ovf-check: ${ovfFile}: ${problem}`)
  if (problems.length) return 1
  const disks = summary.disks.map((d) => `${d.href} (${d.capacity / 2 ** 30} GiB) on ${d.controller}`).join(', ')
  console.log(`ovf-check: ${path.basename(ovfFile)}: as VirtualBox reads it: ${summary.cpus} CPU, ${summary.memoryMiB} MiB, ${disks}; NIC ${summary.nics.join(', ')}; OS ${summary.osType}`)
  return 0
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) process.exitCode = main()
