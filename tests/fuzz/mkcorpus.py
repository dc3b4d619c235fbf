#!/usr/bin/python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/.

Each seed is a real message in the target's input format (see the comment
at the top of each fuzz_*.c): control byte(s) first, then a frame, a BOOTP
message, a request line or a configuration file. Run it again after
changing a format; the files are checked in.
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

VM_MAC = bytes([0x02, 0, 0, 0, 0, 0x0a])  # fuzz_filter's VM
GW_MAC = bytes([0x02, 0x53, 0x4e, 0, 0, 0x01])
BCAST = b"\xff" * 6


def ip(s):
    return bytes(int(x) for x in s.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag,
                    64, proto, 0, ip(src), ip(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(src, dst, sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, len(u))
    c = csum(pseudo + u) or 0xffff
    return ipv4(src, dst, 17, u[:6] + struct.pack("!H", c) + u[8:])


def tcp(src, dst, sport, dport, flags):
    t = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags,
                    65535, 0, 0)
    return ipv4(src, dst, 6, t)


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip(spa),
                       tha, ip(tpa))


def bootp(mac, msgtype, ciaddr="0.0.0.0", opts=b"", xid=0x12345678,
          flags=0):
    h = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, flags,
                    ip(ciaddr), b"\0" * 4, b"\0" * 4, b"\0" * 4,
                    mac + b"\0" * 10, b"", b"")
    o = bytes([53, 1, msgtype]) + opts + b"\xff"
    return h + struct.pack("!I", 0x63825363) + o


def opt(code, data):
    return bytes([code, len(data)]) + data


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def filter_corpus():
    # control byte: 1 to_vm, 2 lease, 4/8 policy, 0x10 force MAC
    lease = 0x02
    vm_ip = "192.168.105.10"
    gw = "192.168.105.1"
    seeds = {
        "arp-probe": (0, eth(BCAST, VM_MAC, 0x0806,
                             arp(1, VM_MAC, "0.0.0.0", b"\0" * 6, gw))),
        "arp-request-gw": (lease, eth(BCAST, VM_MAC, 0x0806,
                                      arp(1, VM_MAC, vm_ip, b"\0" * 6, gw))),
        "arp-to-vm": (1 | lease, eth(BCAST, GW_MAC, 0x0806,
                                     arp(1, GW_MAC, gw, b"\0" * 6, vm_ip))),
        "dhcp-discover": (0, eth(BCAST, VM_MAC, 0x0800,
                                 udp("0.0.0.0", "255.255.255.255", 68, 67,
                                     bootp(VM_MAC, 1)))),
        "dhcp-request": (0, eth(BCAST, VM_MAC, 0x0800,
                                udp("0.0.0.0", "255.255.255.255", 68, 67,
                                    bootp(VM_MAC, 3,
                                          opts=opt(50, ip(vm_ip)) +
                                          opt(54, ip(gw)))))),
        "tcp-syn-out": (lease, eth(GW_MAC, VM_MAC, 0x0800,
                                   tcp(vm_ip, "8.8.8.8", 40000, 443, 0x02))),
        "tcp-synack-in": (1 | lease,
                          eth(VM_MAC, GW_MAC, 0x0800,
                              tcp("8.8.8.8", vm_ip, 443, 40000, 0x12))),
        "dns-query": (lease | 0x08,
                      eth(GW_MAC, VM_MAC, 0x0800,
                          udp(vm_ip, gw, 5353, 53, b"\x12\x34\x01\x00"))),
        "icmp-peer-policy": (lease | 0x04,
                             eth(GW_MAC, VM_MAC, 0x0800,
                                 ipv4(vm_ip, "192.168.105.11", 1,
                                      b"\x08\x00\xf7\xff\x00\x00\x00\x00"))),
        "fragment": (lease, eth(GW_MAC, VM_MAC, 0x0800,
                                ipv4(vm_ip, "1.1.1.1", 17, b"x" * 16,
                                     frag=0x2001))),
        "vlan": (0x10, eth(GW_MAC, VM_MAC, 0x8100,
                           b"\x00\x05\x08\x00" +
                           ipv4(vm_ip, "1.1.1.1", 17, b"x" * 8))),
        "ipv6": (0, eth(b"\x33\x33\0\0\0\x01", VM_MAC, 0x86dd,
                        b"\x60" + b"\0" * 39)),
    }
    for name, (ctl, frame) in seeds.items():
        write("fuzz_filter", name, bytes([ctl]) + frame)


def dhcp_corpus():
    # byte 0 = 0xff: 1024-byte reply buffer; byte 1: VM 0, force chaddr
    mac = bytes([0x02, 0, 0, 0, 0, 0x10])
    gw = ip("10.0.0.1")
    host = opt(12, b"my-vm.local") + opt(57, struct.pack("!H", 1500))
    seeds = {
        "discover": bootp(mac, 1, opts=host + opt(55, b"\x01\x03\x06\x0c")),
        "discover-requested": bootp(mac, 1, opts=opt(50, ip("10.0.0.4"))),
        "request-selecting": bootp(mac, 3, opts=opt(50, ip("10.0.0.2")) +
                                   opt(54, gw) + host),
        "request-init-reboot": bootp(mac, 3, opts=opt(50, ip("10.0.0.2"))),
        "request-renewing": bootp(mac, 3, ciaddr="10.0.0.2"),
        "release": bootp(mac, 7, ciaddr="10.0.0.2", opts=opt(54, gw)),
        "decline": bootp(mac, 4, opts=opt(50, ip("10.0.0.2")) + opt(54, gw)),
        "inform": bootp(mac, 8, ciaddr="10.0.0.2", flags=0x8000),
    }
    for name, msg in seeds.items():
        write("fuzz_dhcp", name, b"\xff\x08" + msg)
    # A small reply buffer: the reply does not fit, nothing changes.
    write("fuzz_dhcp", "discover-small-cap", b"\x64\x08" + seeds["discover"])


def control_corpus():
    # control byte: bit 0 fd, bits 1-2 peer (0 root, 1 uid 1000, ...)
    reqs = {
        "hello": (0, {"op": "hello", "id": 1, "version": 1,
                      "client": "softnetctl"}),
        "attach": (1, {"op": "attach", "id": "a", "mac": "02:00:00:00:00:33",
                       "name": "web", "session": True,
                       "allow": ["192.168.105.0/24", "@host"],
                       "block": ["10.0.0.0/8"]}),
        "attach-expose": (1, {"op": "attach", "mac": "02:00:00:00:00:34",
                              "expose": ["8080:80"]}),
        "attach-stream-fd": (0x21, {"op": "attach",
                                    "mac": "02:00:00:00:00:35"}),
        "detach": (0, {"op": "detach", "vm": "vm1"}),
        "list": (2, {"op": "list"}),
        "show": (2, {"op": "show", "vm": "02:00:00:00:00:01"}),
        "show-other-user": (2, {"op": "show", "vm": "vm2"}),
        "stats": (0, {"op": "stats"}),
        "stats-vm": (0, {"op": "stats", "vm": 1}),
        "leases": (0, {"op": "leases", "id": 7}),
        "policy-get": (0, {"op": "policy.get", "vm": "1"}),
        "policy-set": (0, {"op": "policy.set", "vm": "vm1", "revision": 1,
                           "allow": ["8.8.8.8"], "block": ["0.0.0.0/0"]}),
        "status": (0, {"op": "status"}),
        "unknown-op": (0, {"op": "reboot"}),
    }
    for name, (ctl, req) in reqs.items():
        write("fuzz_control", name,
              bytes([ctl]) + json.dumps(req).encode())


def config_corpus():
    full = {
        "socket": "/run/softnetd.sock",
        "socket_group": "root",
        "admin_group": "root",
        "database": "/var/lib/softnetd/leases.db",
        "max_vms": 1024,
        "uplink": {"type": "tap", "name": "softnet0",
                   "gateway": "192.168.105.1", "netmask": "255.255.255.0",
                   "pool_start": "192.168.105.2",
                   "pool_end": "192.168.105.254", "mtu": 1500},
        "dhcp": {"lease_time": 600, "dns": ["192.168.105.1", "1.1.1.1"]},
        "default_policy": {"allow": ["10.0.0.0/8"], "block": ["@host"],
                           "expose": ["2222:22"]},
    }
    write("fuzz_config", "full.json", json.dumps(full, indent=2).encode())
    vmnet = {"uplink": {"type": "vmnet", "mode": "host"}}
    write("fuzz_config", "vmnet.json", json.dumps(vmnet).encode())
    vmnet_addrs = {"uplink": {"type": "vmnet", "gateway": "10.1.0.1",
                              "netmask": "255.255.0.0",
                              "pool_start": "10.1.0.10",
                              "pool_end": "10.1.255.200"}}
    write("fuzz_config", "vmnet-addrs.json",
          json.dumps(vmnet_addrs).encode())
    write("fuzz_config", "empty.json", b"{}\n")
    write("fuzz_config", "bad-key.json", b'{"uplink": {"mtu": 70000}}')


def tcp_seg(seq, flags, data):
    """A TCP/IPv4 frame from the VM with payload, checksum left as is."""
    t = struct.pack("!HHIIBBHHH", 40000, 443, seq, 1, 5 << 4, flags,
                    65535, 0, 0) + data
    return eth(GW_MAC, VM_MAC, 0x0800,
               ipv4("192.168.105.10", "192.0.0.9", 6, t))


def gso_corpus():
    # control byte: 1 aim the header at the frame, 2 coalesce A and B;
    # then struct pkt_vnet (host order), a 16-bit length of A, the frames.
    def vnet(flags=0, gso=0, hdr_len=0, size=0, start=0, off=0):
        return struct.pack("=BBHHHH", flags, gso, hdr_len, size, start, off)

    pay = bytes(i & 0xff for i in range(4000))
    big = tcp_seg(1, 0x18, pay)
    write("fuzz_gso", "tso-aimed",
          b"\x01" + vnet(1, 1, 54, 1448, 34, 16) + b"\0\0" + big)
    dgram = eth(GW_MAC, VM_MAC, 0x0800,
                udp("192.168.105.10", "192.0.0.9", 5000, 4433, pay))
    write("fuzz_gso", "uso-aimed",
          b"\x01" + vnet(1, 5, 42, 1400, 34, 6) + b"\0\0" + dgram)
    write("fuzz_gso", "plain-csum",
          b"\x00" + vnet(1, 0, 0, 0, 34, 6) + b"\0\0" + dgram)
    a = tcp_seg(1, 0x10, pay[:1448])
    b = tcp_seg(1449, 0x18, pay[1448:2896])
    write("fuzz_gso", "coalesce-two",
          b"\x02" + vnet() + struct.pack("!H", len(a)) + a + b)


def bootpd_corpus():
    entry = (b"{\n\tname=builder\n\tip_address=192.168.64.5\n"
             b"\thw_address=1,a6:1f:0:e:3:22\n"
             b"\tidentifier=1,a6:1f:0:e:3:22\n\tlease=0x6553f358\n}\n")
    ours = (b"{\n\tip_address=192.168.105.10\n\thw_address=1,2:0:0:0:0:a\n"
            b"\tidentifier=1,2:0:0:0:0:a\n\tlease=0x6553f358\n}\n")
    write("fuzz_bootpd", "bootpd.txt", b"\x01" + entry + entry)
    write("fuzz_bootpd", "mixed.txt", b"\x03" + ours + entry + ours)
    write("fuzz_bootpd", "broken.txt",
          b"\x06garbage\n{\n\tip_address=1.2.3.4\n{\n" + ours + b"}")
    write("fuzz_bootpd", "empty.txt", b"\x00")


def dnsfwd_corpus():
    q = (struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1) +
         b"\x03www\x07example\x04test\x00" + struct.pack("!HH", 1, 1))
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    write("fuzz_dnsfwd", "query-edns", q + opt)
    write("fuzz_dnsfwd", "query-cut", q[:20])
    write("fuzz_dnsfwd", "header-only", q[:12])


if __name__ == "__main__":
    dnsfwd_corpus()
    bootpd_corpus()
    filter_corpus()
    dhcp_corpus()
    control_corpus()
    config_corpus()
    gso_corpus()
