#!/usr/bin/env bash
# Writes the OVF 1.0 descriptor of the workshop box's VirtualBox image on stdout: what VirtualBox's OVF reader
# (src/VBox/Main/xml/ovfreader.cpp) reads when Vagrant imports a box: one streamOptimized VMDK on a SATA (AHCI)
# controller, one Intel PRO/1000 MT (E1000) NIC on NAT, CPUs, memory, the OS type. test/vm/ovf.test.ts checks it.
#
# Usage: ovf.sh --name NAME --vmdk FILE --capacity-gib N --cpus N --memory MIB --os-type Debian_64
set -euo pipefail

while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2 ;;
    --vmdk) vmdk=$2 ;;
    --capacity-gib) capacity_gib=$2 ;;
    --cpus) cpus=$2 ;;
    --memory) memory=$2 ;;
    --os-type) os_type=$2 ;;
    *) echo "ovf.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
: "${name:?--name}" "${vmdk:?--vmdk}" "${capacity_gib:?--capacity-gib}" "${cpus:?--cpus}" "${memory:?--memory}" "${os_type:?--os-type}"
[ -f "$vmdk" ] || { echo "ovf.sh: $vmdk: no such file" >&2; exit 2; }
file=$(basename "$vmdk")
size=$(stat -c %s "$vmdk")
capacity=$((capacity_gib * 1024 * 1024 * 1024))
# CIM operating system ids (DMTF CIM_OperatingSystem.OsType): 96 = Debian 64-bit.
case "$os_type" in
  Debian_64) cim_os=96 ;;
  *) echo "ovf.sh: unknown --os-type $os_type" >&2; exit 2 ;;
esac

cat <<OVF
<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="$file" ovf:size="$size"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="$capacity" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="$name">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="$cim_os">
      <Info>The kind of installed guest operating system</Info>
      <Description>$os_type</Description>
      <vbox:OSType ovf:required="false">$os_type</vbox:OSType>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>$name</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>$cpus virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>$cpus virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>$cpus</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>$memory MB of memory</rasd:Caption>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>$memory MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>$memory</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
OVF
