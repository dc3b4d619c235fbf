"""Isolation end to end: VM-to-VM policy and real attacks from a guest.

vm1 is the victim and keeps working; vm2 is the attacker. Attack frames
are crafted with scapy inside vm2's namespace and leave through vm2's TAP,
exactly the path a VM's frames take.
"""

import re
import time

from harness import (E2E, EXT_IP, capture, GATEWAY, UPLINK_IF, Topology, echo_server,
                     nsrun, read_lines, udp_sink, wait_for)

SUBNET = "192.168.105.0/24"


def neigh(ns, ip, dev):
    """The lladdr the kernel in ns holds for ip, or None."""
    out = nsrun(ns, ["ip", "neigh", "show", ip, "dev", dev]).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


class PolicyTest(E2E):
    def test_vm_to_vm_blocked_by_default(self):
        t = Topology(self.env)
        g1 = t.guest("vm1", "02:00:00:00:02:01")
        g2 = t.guest("vm2", "02:00:00:00:02:02")
        g1.dhcp()
        g2.dhcp()
        echo_server(self.env, g2.ns, 7)
        self.assertFalse(g1.ping(g2.ip, count=2))
        self.assertIsNone(g1.tcp(g2.ip, 7, timeout=2))
        self.assertTrue(g1.ping(EXT_IP))
        drops = t.stats("vm1")["drops"]
        self.assertGreater(drops["arp_target"] + drops["policy"], 0)

    def test_vm_to_vm_when_both_allow(self):
        t = Topology(self.env)
        g1 = t.guest("vm1", "02:00:00:00:02:11", opts=("--allow", SUBNET))
        g2 = t.guest("vm2", "02:00:00:00:02:12", opts=("--allow", SUBNET))
        g1.dhcp()
        g2.dhcp()
        echo_server(self.env, g2.ns, 7)
        self.assertTrue(g1.ping(g2.ip, count=2))
        self.assertEqual(g1.tcp(g2.ip, 7, "vm to vm"), "vm to vm")
        # Still isolated from a third VM that allows nothing.
        g3 = t.guest("vm3", "02:00:00:00:02:13")
        g3.dhcp()
        self.assertFalse(g1.ping(g3.ip, count=1))

    def test_block_ext_and_host_semantics(self):
        t = Topology(self.env)
        echo = t.ext_echo(7)
        g1 = t.guest("vm1", "02:00:00:00:02:21",
                     opts=("--block", EXT_IP + "/32"))
        g2 = t.guest("vm2", "02:00:00:00:02:22", opts=("--block", "@host"))
        g3 = t.guest("vm3", "02:00:00:00:02:23",
                     opts=("--block", "0.0.0.0/0", "--allow", "@host"))
        for g in (g1, g2, g3):
            g.dhcp()  # DHCP is the daemon's own: never blocked
        self.assertFalse(g1.ping(EXT_IP, count=2))
        self.assertIsNone(g1.tcp(EXT_IP, 7, timeout=2))
        self.assertTrue(g1.ping(GATEWAY))
        self.assertFalse(g2.ping(GATEWAY, count=2))
        self.assertTrue(g2.ping(EXT_IP))
        self.assertTrue(g3.ping(GATEWAY))
        self.assertFalse(g3.ping(EXT_IP, count=2))
        self.assertGreater(t.stats("vm1")["drops"]["policy"], 0)
        echo.kill()


class AttackTest(E2E):
    def setUp(self):
        super().setUp()
        self.t = Topology(self.env)
        self.echo = self.t.ext_echo(7)
        self.v1 = self.t.guest("vm1", "02:00:00:00:03:01")
        self.v2 = self.t.guest("vm2", "02:00:00:00:03:02")
        self.v1.dhcp()
        self.v2.dhcp()
        # Warm the neighbour tables both ways.
        self.assertTrue(self.v1.ping(GATEWAY))
        nsrun(self.t.host, ["ping", "-c", "1", "-W", "1", self.v1.ip])
        self.host_mac = neigh(self.v1.ns, GATEWAY, "eth0")
        self.assertIsNotNone(self.host_mac)
        self.assertEqual(neigh(self.t.host, self.v1.ip, UPLINK_IF),
                         self.v1.mac)

    def victim_still_works(self):
        self.assertTrue(self.v1.ping(EXT_IP))
        self.assertEqual(self.v1.tcp(EXT_IP, 7, "still here"), "still here")

    def test_gratuitous_arp_for_gateway_and_victim(self):
        v2mac = self.v2.mac
        self.v2.scapy(
            "for ip in (%r, %r):\n"
            "  for op in (1, 2):\n"
            "    sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/ARP(op=op,"
            " hwsrc=%r, psrc=ip, pdst=ip), count=3)\n"
            "# and one with the victim's MAC as Ethernet source\n"
            "sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/ARP(op=2,"
            " hwsrc=%r, psrc=%r, pdst=%r), count=3)\n"
            % (GATEWAY, self.v1.ip, v2mac, v2mac, self.v1.mac, v2mac,
               self.v1.ip, self.v1.ip))
        time.sleep(0.5)
        self.assertEqual(neigh(self.v1.ns, GATEWAY, "eth0"), self.host_mac)
        self.assertEqual(neigh(self.t.host, self.v1.ip, UPLINK_IF),
                         self.v1.mac)
        drops = self.t.stats("vm2")["drops"]
        self.assertGreaterEqual(drops["arp_spoof"], 12)
        self.assertGreaterEqual(drops["src_mac"], 3)
        self.victim_still_works()

    def test_spoofed_source_ip_and_mac(self):
        sink = udp_sink(self.env, self.t.ext, 9999)
        # Control: vm2's honest datagram arrives, so the sink works.
        self.v2.scapy("sendp(Ether(src=%r, dst=%r)/IP(src=%r, dst=%r)/"
                      "UDP(sport=1234, dport=9999)/Raw(b'honest'))"
                      % (self.v2.mac, self.host_mac, self.v2.ip, EXT_IP))
        wait_for(lambda: any("honest" in l for l in read_lines(sink)),
                 what="the honest datagram")
        self.v2.scapy(
            "sendp(Ether(src=%r, dst=%r)/IP(src=%r, dst=%r)/"
            "UDP(sport=1234, dport=9999)/Raw(b'spoofip'), count=10)\n"
            "sendp(Ether(src=%r, dst=%r)/IP(src=%r, dst=%r)/"
            "UDP(sport=1234, dport=9999)/Raw(b'spoofmac'), count=10)\n"
            "sendp(Ether(src=%r, dst=%r)/IP(src='10.0.0.5', dst=%r)/"
            "UDP(sport=1234, dport=9999)/Raw(b'spoofother'), count=10)\n"
            % (self.v2.mac, self.host_mac, self.v1.ip, EXT_IP,
               self.v1.mac, self.host_mac, self.v1.ip, EXT_IP,
               self.v2.mac, self.host_mac, EXT_IP))
        time.sleep(0.5)
        got = read_lines(sink)
        self.assertFalse([l for l in got if "spoof" in l], got)
        drops = self.t.stats("vm2")["drops"]
        self.assertGreaterEqual(drops["ip_spoof"], 20)
        self.assertGreaterEqual(drops["src_mac"], 10)
        self.victim_still_works()

    def test_rogue_dhcp_server_is_never_heard(self):
        conf = self.env.path("udhcpd.conf")
        with open(conf, "w") as f:
            f.write("start 10.66.0.10\nend 10.66.0.20\ninterface eth0\n"
                    "opt router 10.66.0.1\nlease_file %s\n"
                    % self.env.path("udhcpd.leases"))
        self.v2.run(["ip", "addr", "add", "10.66.0.1/24", "dev", "eth0"])
        self.env.popen(["busybox", "udhcpd", "-f", conf], ns=self.v2.ns)
        cap = self.env.path("vm1-dhcp.pcap")
        dump = capture(self.env, self.v1.ns, "eth0", cap,
                       "udp port 67 or udp port 68")
        # Unsolicited OFFER/ACKs straight from the attacker too.
        self.v2.scapy(
            "p = Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/IP(src='10.66.0.1',"
            " dst='255.255.255.255')/UDP(sport=67, dport=68)/BOOTP(op=2,"
            " yiaddr='10.66.0.99', chaddr=bytes.fromhex(%r))/DHCP(options="
            "[('message-type', 'offer'), ('server_id', '10.66.0.1'),"
            " ('router', '10.66.0.1'), 'end'])\n"
            "sendp(p, count=20, inter=0.05)\n"
            % (self.v2.mac, self.v1.mac.replace(":", "")))
        for _ in range(3):
            lease = self.v1.dhcp()
            self.assertEqual(lease["serverid"], GATEWAY)
            self.assertEqual(lease["router"], GATEWAY)
            self.assertTrue(lease["ip"].startswith("192.168.105."))
        time.sleep(0.5)
        dump.terminate()
        dump.wait(timeout=5)
        heard = nsrun(self.v1.ns, ["tcpdump", "-r", cap, "-n", "-e"],
                      check=False).stdout
        self.assertNotIn(self.v2.mac, heard)
        self.assertNotIn("10.66.0", heard)
        self.assertIn("192.168.105.1.67", heard)  # it did hear softnetd
        self.assertGreaterEqual(self.t.stats("vm2")["drops"]["rogue_dhcp"],
                                20)
        self.victim_still_works()

    def test_invented_chaddrs_do_not_drain_the_pool(self):
        before = len(self.t.daemon.ctl_json("leases"))
        self.v2.scapy(
            "import os\n"
            "for i in range(300):\n"
            "  ch = bytes([2]) + os.urandom(5)\n"
            "  sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/IP(src='0.0.0.0',"
            " dst='255.255.255.255')/UDP(sport=68, dport=67)/BOOTP("
            "chaddr=ch, xid=i)/DHCP(options=[('message-type','discover'),"
            " 'end']))\n"
            "  sendp(Ether(src=':'.join('%%02x' %% b for b in ch),"
            " dst='ff:ff:ff:ff:ff:ff')/IP(src='0.0.0.0',"
            " dst='255.255.255.255')/UDP(sport=68, dport=67)/BOOTP("
            "chaddr=ch, xid=i)/DHCP(options=[('message-type','discover'),"
            " 'end']))\n" % self.v2.mac, timeout=120)
        time.sleep(0.5)
        self.assertEqual(len(self.t.daemon.ctl_json("leases")), before)
        drops = self.t.stats("vm2")["drops"]
        self.assertGreaterEqual(drops["dhcp_chaddr"], 300)
        self.assertGreaterEqual(drops["src_mac"], 300)
        g3 = self.t.guest("vm3", "02:00:00:00:03:03")
        self.assertEqual(g3.dhcp()["ip"], "192.168.105.4")
        self.victim_still_works()

    def test_sniffing_sees_nothing_of_vm1(self):
        cap = self.env.path("vm2.pcap")
        dump = capture(self.env, self.v2.ns, "eth0", cap)
        for _ in range(3):
            self.victim_still_works()
        self.v1.dhcp()
        nsrun(self.t.host, ["ping", "-c", "3", "-i", "0.2", "-W", "1",
                            self.v1.ip])
        self.v1.run(["ping", "-c", "3", "-i", "0.2", "-b", "-W", "1",
                     "192.168.105.255"], check=False)
        time.sleep(0.5)
        dump.terminate()
        dump.wait(timeout=5)
        seen = nsrun(self.v2.ns, ["tcpdump", "-r", cap, "-n", "-e"],
                     check=False).stdout
        self.assertNotIn(self.v1.mac, seen)
        self.assertIsNone(re.search(re.escape(self.v1.ip) + r"(?!\d)", seen),
                          seen)
        self.assertIn(self.v2.mac, seen + self.v2.mac)  # capture ran
