"""Data plane end to end: real guest kernels get leases from softnetd's DHCP
server (busybox udhcpc), reach the gateway and the ext host, and are kept
apart from each other.
"""

import platform

from harness import (E2E, EXT_IP, GATEWAY, PYTHON, SOFTNETCTL, Guest,
                     Topology, nsrun, skip_in_vmnet, start_bridged,
                     wait_for)


class LeaseTest(E2E):
    def test_unique_leases_router_dns_mtu_and_reachability(self):
        t = Topology(self.env, {"dhcp": {"lease_time": 300}})
        echo = t.ext_echo(7)
        g1 = t.guest("vm1", "02:00:00:00:01:01")
        g2 = t.guest("vm2", "02:00:00:00:01:02")
        l1 = g1.dhcp()
        l2 = g2.dhcp()
        self.assertNotEqual(l1["ip"], l2["ip"])
        for l in (l1, l2):
            self.assertTrue(l["ip"].startswith("192.168.105."), l)
            self.assertEqual(l["router"], GATEWAY)
            self.assertEqual(l["dns"].split(), [GATEWAY])
            self.assertEqual(l["mtu"], "1500")
            self.assertEqual(l["lease"], "300")
            self.assertEqual(l["serverid"], GATEWAY)
            self.assertEqual(l["mask"], "24")
        # Lowest free address first.
        self.assertEqual(sorted([l1["ip"], l2["ip"]]),
                         ["192.168.105.2", "192.168.105.3"])
        self.assertTrue(g1.ping(GATEWAY, count=2))
        self.assertTrue(g2.ping(EXT_IP, count=2))
        self.assertEqual(g1.tcp(EXT_IP, 7, "through softnet"),
                         "through softnet")
        vms = {v["name"]: v for v in t.daemon.ctl_json("list")}
        self.assertEqual(vms["vm1"]["ip"], l1["ip"])
        self.assertEqual(vms["vm1"]["state"], "leased")
        leases = {l["mac"]: l for l in t.daemon.ctl_json("leases")}
        self.assertEqual(leases["02:00:00:00:01:01"]["ip"], l1["ip"])
        self.assertEqual(leases["02:00:00:00:01:01"]["state"], "bound")
        self.assertEqual(leases["02:00:00:00:01:01"]["hostname"], "vm1")
        echo.kill()


UDP_GSO_SEND = r"""
import socket, sys, time
ip, port, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 5:
    s.bind((sys.argv[5], 0))  # ext's public address, not its link's
s.setsockopt(socket.SOL_UDP, 103, size)  # UDP_SEGMENT: one send, 10 datagrams
for k in range(count):
    s.sendto(b"".join(bytes([k, i]) * (size // 2) for i in range(10)),
             (ip, port))
    time.sleep(0.002)  # a receiver's buffer may hold only ~180 datagrams
"""

UDP_GSO_RECV = r"""
import socket, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", port))
print("ready", flush=True)
s.settimeout(2)
seen, bad = set(), 0
try:
    while True:
        d = s.recv(65536)
        if len(d) != size or d != d[:2] * (size // 2):
            bad += 1
        else:
            seen.add((d[0], d[1]))
except socket.timeout:
    pass
print(len(seen), bad, flush=True)
"""


def kernel_has_uso():
    """UDP segmentation offload on TAPs came with Linux 6.2."""
    try:
        major, minor = platform.release().split(".")[:2]
        return (int(major), int(minor.split("-")[0])) >= (6, 2)
    except ValueError:
        return False


@skip_in_vmnet("vmnet takes no superframes (vmnet_max_packet_size 1514 "
               "without TSO): nothing to pass whole")
class UdpGsoTest(E2E):
    """UDP superframes (a sender using UDP_SEGMENT, as QUIC stacks do) pass
    whole between offload-capable TAPs and are cut in software, with every
    checksum right, for a VM on a 1500-byte datagram socket."""

    SIZE = 1400
    SENDS = 20  # of 10 datagrams each

    def transfer(self, src_ns, dst_ns, dst_ip, port, src_ip=None):
        """Sends SENDS superframes; returns (distinct datagrams, bad)."""
        p = self.env.popen([PYTHON, "-c", UDP_GSO_RECV, str(port),
                            str(self.SIZE)], ns=dst_ns, text=True)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        nsrun(src_ns, [PYTHON, "-c", UDP_GSO_SEND, dst_ip, str(port),
                       str(self.SIZE), str(self.SENDS)] +
              ([src_ip] if src_ip else []))
        seen, bad = p.stdout.readline().split()
        p.wait(timeout=10)
        return int(seen), int(bad)

    def test_udp_superframes_pass_whole_or_are_cut_right(self):
        t = Topology(self.env)
        tap = t.guest("uso1", "02:00:00:00:05:01")
        tap.dhcp()
        sp = Guest(self.env, "uso2", "02:00:00:00:05:02")
        start_bridged(self.env, sp, [SOFTNETCTL, "-s", t.daemon.sock,
                                     "exec", "--mac", sp.mac, "--name",
                                     "uso2", "--"])
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 2,
                 what="exec to attach")
        sp.dhcp()
        for g in (tap, sp):
            self.assertTrue(g.ping(EXT_IP, count=2))
        whole = kernel_has_uso()
        total = self.SENDS * 10

        # TAP guest -> ext: the guest kernel hands softnetd superframes
        # (its TAP has UDP segmentation on), which go to the uplink whole.
        before = t.stats("uso1")["tx_frames"]
        self.assertEqual(self.transfer(tap.ns, t.ext, EXT_IP, 9001),
                         (total, 0))
        if whole:
            self.assertLess(t.stats("uso1")["tx_frames"] - before, total / 2)

        # ext -> TAP guest: the superframes reach the guest's TAP whole.
        before = t.stats("uso1")["rx_frames"]
        self.assertEqual(self.transfer(t.ext, tap.ns, tap.ip, 9002, EXT_IP),
                         (total, 0))
        if whole:
            self.assertLess(t.stats("uso1")["rx_frames"] - before, total / 2)

        # ext -> socket-pair guest: softnetd reads superframes from the
        # uplink and cuts them into 1500-byte datagrams; the guest kernel
        # checks every checksum (a bad one would be dropped, not counted).
        up = t.daemon.ctl_json("status")["counters"]["rx_frames"]
        before = t.stats("uso2")["rx_frames"]
        self.assertEqual(self.transfer(t.ext, sp.ns, sp.ip, 9003, EXT_IP),
                         (total, 0))
        self.assertGreaterEqual(t.stats("uso2")["rx_frames"] - before, total)
        if whole:
            self.assertLess(
                t.daemon.ctl_json("status")["counters"]["rx_frames"] - up,
                total / 2)

        # socket-pair guest -> ext: the stand-in cuts its guest's
        # superframes as a VM's NIC would; softnetd passes plain frames.
        self.assertEqual(self.transfer(sp.ns, t.ext, EXT_IP, 9004),
                         (total, 0))
