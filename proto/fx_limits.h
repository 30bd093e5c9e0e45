/* fx_limits: the limits the API promises its clients, one place for the
 * daemons that enforce them and for fexctl, which checks its options
 * against them before it sends anything (and must include no daemon
 * header to know them).  A daemon refuses a value outside these ranges
 * with RPC_INVALID_ARGUMENT.  Header only. */
#ifndef FX_LIMITS_H
#define FX_LIMITS_H

/* Hosts a fabric takes (Fabric.RegisterHost): the host table and the
 * data plane's uplinks alike, so that every host that registers gets a
 * working uplink.  Hosts are never removed: the 1025th name is refused
 * (RPC_RESOURCE_EXHAUSTED), a known one comes back whenever it registers
 * again. */
#define FX_LIMITS_MAX_HOSTS 1024

/* Where a host sits (Fabric.RegisterHost, agentd --chassis --slot): a
 * chassis number, at most one chassis a host, and a blade slot of a UCS
 * 5108 chassis, which holds 8 half-width blades. */
#define FX_LIMITS_MAX_CHASSIS FX_LIMITS_MAX_HOSTS
#define FX_LIMITS_CHASSIS_SLOTS 8

/* 802.1Q VLAN ids a port profile or a vNIC may carry. */
#define FX_LIMITS_VLAN_MIN 1
#define FX_LIMITS_VLAN_MAX 4094

/* Port profiles (Profiles.Create): VLANs per profile, and the most VIFs
 * bound to one at once, its default and its ceiling. */
#define FX_LIMITS_PROFILE_MAX_VLANS 64
#define FX_LIMITS_PROFILE_MAX_PORTS_DEFAULT 64
#define FX_LIMITS_PROFILE_MAX_PORTS_LIMIT 4096

/* VMs (Vms.Create, HostVms.Define): NICs per VM, and memory in MiB
 * (1 TiB). */
#define FX_LIMITS_VM_MAX_NICS 16
#define FX_LIMITS_VM_MAX_MEMORY_MIB (1024u * 1024u)

/* A running guest's synthetic writer (Vms.Set, Migrations.Start): page
 * writes per second, 3.8 GiB/s at the most. */
#define FX_LIMITS_DIRTY_RATE_MAX 1000000u

/* Traffic flows (Dataplane.TrafficStart): frame sizes from the Ethernet
 * minimum up to what a vNIC of MTU 1500 (the default every vNIC is bound
 * with) accepts with its Ethernet header, VLAN tag and FCS; frames per
 * second per flow. */
#define FX_LIMITS_FLOW_MIN_SIZE 64u
#define FX_LIMITS_FLOW_MAX_SIZE 1518u
#define FX_LIMITS_FLOW_MAX_RATE 1000000u

/* A migration's downtime limit, in ms (QEMU's downtime-limit: 2000 s). */
#define FX_LIMITS_DOWNTIME_LIMIT_MAX_MS 2000000u

#endif
