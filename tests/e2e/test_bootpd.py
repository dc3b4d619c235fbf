"""`tart ip` end to end: the bootpd lease mirror and the re-announcements,
and no VM traffic reaching a DHCP server on the host.

The mirror file is a private one (config "bootpd_leases"), seeded with
entries as macOS bootpd writes them. tart_resolve() follows Tart's own
parser (cirruslabs/tart Sources/tart/MACAddressResolver/Leases.swift and
Lease.swift): it must find each VM, and the foreign entries must come
through every rewrite byte for byte.
"""

import os
import re
import time

from harness import (E2E, EXT_IP, GATEWAY, Topology, capture, nsrun, read_lines,
                     udp_sink, wait_for)

# Two VMs on bootpd's own network, as bootpd writes them (tabs, %x bytes).
# How long a change may take to reach the file: a bound for a hung test,
# not a speed test (the mirror is written on each lease change and a
# rewrite by bootpd is found by a stat() poll every 250 ms, BOOTPD_POLL_MS:
# 10 s is 40 times that).
MIRROR_WAIT = 10

FOREIGN = ("{\n"
           "\tname=builder\n"
           "\tip_address=192.168.64.5\n"
           "\thw_address=1,a6:1f:0:e:3:22\n"
           "\tidentifier=1,a6:1f:0:e:3:22\n"
           "\tlease=0x7fffffff\n"
           "}\n"
           "{\n"
           "\tip_address=192.168.64.6\n"
           "\thw_address=1,a6:1f:0:e:3:23\n"
           "\tidentifier=ff,1:2:3\n"
           "\tlease=0x7ffffff0\n"
           "}\n")


class TartFormatError(Exception):
    pass


def tart_resolve(text, mac, now=None):
    """The address `tart ip` gives for mac, or None; raises on a file
    Tart would reject. Lines split on newlines (empty ones dropped); "{"
    and "}" lines must alternate; other lines are key=value with a
    non-empty value; an entry needs hw_address 1,<mac>, ip_address and a
    hex lease; expired entries are skipped; the latest expiry wins."""
    now = time.time() if now is None else now
    want = [int(x, 16) for x in mac.split(":")]
    state, cur, best = "nowhere", {}, None
    for line in [l for l in text.split("\n") if l]:
        if line == "{":
            if state not in ("nowhere", "end"):
                raise TartFormatError("unexpected {")
            state, cur = "start", {}
        elif line == "}":
            if state != "body":
                raise TartFormatError("unexpected }")
            state = "end"
            hw = cur.get("hw_address", "").split(",")
            if len(hw) != 2 or hw[0] != "1" or "ip_address" not in cur:
                continue
            parts = hw[1].split(":")
            if len(parts) != 6 or [int(p, 16) for p in parts] != want:
                continue
            exp = int(cur.get("lease", "x"), 16)
            if exp <= now:
                continue
            if best is None or exp >= best[0]:
                best = (exp, cur["ip_address"])
        else:
            kv = line.lstrip(" \t")
            if not kv:
                continue
            k, sep, v = kv.partition("=")
            if not sep or not k or not v:
                raise TartFormatError("key without value: %r" % line)
            cur[k] = v
            state = "body"
    if state in ("start", "body"):
        raise TartFormatError("truncated")
    return best[1] if best else None


def lease_of(text, mac):
    """The lease= expiry of softnetd's entry for mac (bootpd's %x MAC)."""
    hw = ":".join("%x" % int(x, 16) for x in mac.split(":"))
    m = re.search(r"\thw_address=1,%s\n\tidentifier=1,%s\n\tlease=0x([0-9a-f]+)"
                  % (re.escape(hw), re.escape(hw)), text)
    return int(m.group(1), 16) if m else None


def bootpd_rewrites(path, text):
    """Replaces the file as bootpd does: write "<file>-", rename over."""
    with open(path + "-", "w") as f:
        f.write(text)
    os.rename(path + "-", path)


class MirrorTest(E2E):
    def setUp(self):
        super().setUp()
        self.leases = self.env.path("dhcpd_leases")
        with open(self.leases, "w") as f:
            f.write(FOREIGN)
        self.t = Topology(self.env, {"bootpd_leases": self.leases})

    def text(self):
        with open(self.leases) as f:
            return f.read()

    def assert_foreign_kept(self):
        text = self.text()
        self.assertTrue(text.endswith(FOREIGN), text)
        tart_resolve(text, "02:00:00:00:00:01")  # Tart accepts the file

    def resolves(self, g, ip):
        return lambda: tart_resolve(self.text(), g.mac) == ip

    def test_tart_ip_finds_each_vm(self):
        g1 = self.t.guest("vm1", "02:00:00:00:0b:01")
        g2 = self.t.guest("vm2", "02:00:00:00:0b:02")
        self.assertEqual(self.text(), FOREIGN)  # attached, no lease yet
        ip1, ip2 = g1.dhcp()["ip"], g2.dhcp()["ip"]
        wait_for(self.resolves(g1, ip1),
                 timeout=MIRROR_WAIT, what="vm1 in the file")
        wait_for(self.resolves(g2, ip2),
                 timeout=MIRROR_WAIT, what="vm2 in the file")
        self.assertIn("\tname=vm1\n", self.text())
        self.assertEqual(tart_resolve(self.text(), "a6:1f:00:0e:03:22"),
                         "192.168.64.5")
        self.assert_foreign_kept()
        self.assertEqual(os.stat(self.leases).st_mode & 0o777, 0o644)

        # Renew: the expiry moves on.
        before = lease_of(self.text(), g1.mac)
        time.sleep(1.1)
        self.assertEqual(g1.dhcp()["ip"], ip1)
        wait_for(lambda: lease_of(self.text(), g1.mac) > before,
                 timeout=MIRROR_WAIT,
                 what="the renewed expiry")
        self.assert_foreign_kept()

        # bootpd rewrites the file from its own list: repaired with no
        # other trigger (the daemon's stat() poll finds the change).
        bootpd_rewrites(self.leases, FOREIGN)
        self.assertIsNone(tart_resolve(self.text(), g1.mac))
        wait_for(lambda: self.resolves(g1, ip1)() and
                 self.resolves(g2, ip2)(), timeout=MIRROR_WAIT, what="repair")
        self.assert_foreign_kept()

        # Detach removes the entry at once; the others stay.
        self.t.daemon.ctl("detach", "vm2")
        wait_for(self.resolves(g2, None),
                 timeout=MIRROR_WAIT, what="vm2 removed")
        self.assertEqual(tart_resolve(self.text(), g1.mac), ip1)
        self.assert_foreign_kept()
        # No temporary file left, and bootpd's own "-" name never used.
        self.assertFalse([n for n in os.listdir(self.env.tmp)
                          if "dhcpd_leases" in n and n != "dhcpd_leases"])

    def test_stale_bootpd_entry_loses(self):
        # bootpd once leased this MAC an address that expires later than
        # softnetd's lease will: Tart would pick it. The mirror drops it.
        mac = "02:00:00:00:0b:03"
        stale = ("{\n\tip_address=192.168.64.77\n\thw_address=1,2:0:0:0:b:3\n"
                 "\tidentifier=1,2:0:0:0:b:3\n\tlease=0x7fffffff\n}\n")
        bootpd_rewrites(self.leases, stale + FOREIGN)
        wait_for(lambda: "192.168.64.77" in self.text(), timeout=MIRROR_WAIT,
                 what="settle")
        g = self.t.guest("vm3", mac)
        ip = g.dhcp()["ip"]
        wait_for(self.resolves(g, ip),
                 timeout=MIRROR_WAIT, what="vm3 in the file")
        self.assertNotIn("192.168.64.77", self.text())
        self.assert_foreign_kept()

    def test_every_ack_announces(self):
        g = self.t.guest("vm4", "02:00:00:00:0b:04")
        ip = g.dhcp()["ip"]
        cap = self.env.path("arp.pcap")
        dump = capture(self.env, self.t.host, "softnet0", cap, "arp")
        g.dhcp()  # a renewal: same address, announced again
        g.dhcp()
        time.sleep(0.5)
        dump.terminate()
        dump.wait(timeout=5)
        out = nsrun(self.t.host, ["tcpdump", "-r", cap, "-n", "-e"],
                    check=False).stdout
        grat = [l for l in out.splitlines()
                if g.mac in l and "Request who-has %s tell %s" % (ip, ip) in l]
        self.assertGreaterEqual(len(grat), 2, out)

    def test_restored_lease_is_announced(self):
        g = self.t.guest("vm5", "02:00:00:00:0b:05")
        ip = g.dhcp()["ip"]
        wait_for(self.resolves(g, ip),
                 timeout=MIRROR_WAIT, what="vm5 in the file")
        self.t.daemon.stop()
        # bootpd rewrote the file while softnetd was down.
        bootpd_rewrites(self.leases, FOREIGN)
        self.t.daemon.start()
        # The restarted daemon still holds the lease: back in the file.
        wait_for(self.resolves(g, ip),
                 timeout=MIRROR_WAIT, what="restored entry")
        self.assert_foreign_kept()
        cap = self.env.path("arp2.pcap")
        dump = capture(self.env, self.t.host, "softnet0", cap, "arp")
        g.attach(self.t.daemon)  # no DHCP: the lease is restored
        time.sleep(0.5)
        dump.terminate()
        dump.wait(timeout=5)
        out = nsrun(self.t.host, ["tcpdump", "-r", cap, "-n", "-e"],
                    check=False).stdout
        self.assertIn("Request who-has %s tell %s" % (ip, ip), out)


class UnwritableMirrorTest(E2E):
    def test_logged_once_and_dhcp_goes_on(self):
        path = self.env.path("missing/dhcpd_leases")
        t = Topology(self.env, {"bootpd_leases": path})
        g1 = t.guest("vm1", "02:00:00:00:0c:01")
        g2 = t.guest("vm2", "02:00:00:00:0c:02")
        self.assertTrue(g1.dhcp()["ip"].startswith("192.168.105."))
        self.assertTrue(g2.dhcp()["ip"].startswith("192.168.105."))
        g1.dhcp()
        time.sleep(0.3)
        log = t.daemon.logtext()
        self.assertEqual(log.count("cannot update the mirror"), 1, log)
        self.assertFalse(os.path.exists(path))


class ForeignDhcpTest(E2E):
    """No VM frame to UDP 67/68 reaches the host, whatever its ports."""

    def test_no_vm_udp_reaches_host_dhcp(self):
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:00:0d:01")
        ip = g.dhcp()["ip"]
        sinks = [udp_sink(self.env, t.host, 67), udp_sink(self.env, t.host, 68)]
        ext_sink = udp_sink(self.env, t.ext, 67)
        cap = self.env.path("uplink.pcap")
        # ICMP too: the capture must be seen to work, not just be empty.
        dump = capture(self.env, t.host, "softnet0", cap,
                       "udp port 67 or udp port 68 or icmp")
        gwmac = nsrun(t.host, ["cat", "/sys/class/net/softnet0/address"]
                      ).stdout.strip()
        # A lease planted for another MAC, from ports bootpd would take.
        g.scapy(
            "vm, gw, me = %r, %r, %r\n"
            "def req(sport, dst, dport, edst=gw):\n"
            "    return (Ether(src=vm, dst=edst)/IP(src=me, dst=dst)/\n"
            "        UDP(sport=sport, dport=dport)/BOOTP(op=1,\n"
            "        chaddr=bytes.fromhex('020000000d99'))/DHCP(options=[\n"
            "        ('message-type', 'request'), 'end']))\n"
            "ps = [req(s, %r, 67) for s in (1000, 67, 69, 5353, 40000)]\n"
            "ps += [req(s, %r, 68) for s in (68, 1000)]\n"
            "ps += [req(1000, '255.255.255.255', 67, 'ff:ff:ff:ff:ff:ff')]\n"
            "ps += [req(2000, %r, 67), req(68, %r, 68)]\n"
            "sendp(ps, count=3, inter=0.02)\n"
            % (g.mac, gwmac, ip, GATEWAY, GATEWAY, EXT_IP, EXT_IP))
        # The exchange softnetd answers itself still works.
        self.assertEqual(g.dhcp()["ip"], ip)
        # Other traffic to the gateway is not affected.
        self.assertTrue(g.ping(GATEWAY))
        time.sleep(0.5)
        dump.terminate()
        dump.wait(timeout=5)
        heard = nsrun(t.host, ["tcpdump", "-r", cap, "-n", "-e"],
                      check=False).stdout
        self.assertIn("ICMP echo request", heard)
        self.assertEqual([l for l in heard.splitlines() if "ICMP" not in l],
                         [], heard)
        for s in sinks + [ext_sink]:
            self.assertEqual(read_lines(s), [])
        drops = t.stats("vm1")["drops"]
        # 3 rounds of 10 frames; the 67 -> 67 ones count as rogue_dhcp.
        self.assertEqual(drops["dhcp_foreign"], 27, drops)
        self.assertGreaterEqual(drops["rogue_dhcp"], 3)
