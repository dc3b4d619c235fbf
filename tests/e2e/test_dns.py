"""The DNS forwarder on the gateway (issue 14): real dig in guests, a tiny
upstream resolver in the ext namespace (dns.upstream names it, so no query
ever leaves the test namespaces)."""

import re
import time
import unittest

from harness import (E2E, EXT_IP, GATEWAY, PYTHON, Topology, read_lines,
                     skip_in_vmnet)

# Answers A queries: NAME -> 10.1.0.3; "big.test" has 100 A records, more
# than 512 bytes, so over UDP without EDNS it answers TC with none (as a
# real server does) and in full over TCP; "slow*" names are never
# answered. Bound to EXT_IP: an answer from another address is not
# taken (the forwarder's check). Every query's (transport, source, name) goes to a log.
UPSTREAM = r"""
import socket, struct, sys, threading
log = open(sys.argv[1], "a")
def name_of(q):
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    return ".".join(labels), i + 5
def answer(q, tcp):
    name, end = name_of(q)
    n = 100 if name == "big.test" else 1
    tc = n > 1 and not tcp
    flags = 0x8180 | (0x0200 if tc else 0)
    hdr = q[:2] + struct.pack("!HHHHH", flags, 1, 0 if tc else n, 0, 0)
    body = q[12:end]
    if not tc:
        for k in range(n):
            body += struct.pack("!HHHIH", 0xc00c, 1, 1, 60, 4)
            body += bytes([10, 1, k // 256, 3 + k % 250])
    return name, hdr + body
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], 53))
    while True:
        q, a = s.recvfrom(4096)
        name, r = answer(q, False)
        log.write("udp %s %s\n" % (a[0], name)); log.flush()
        if not name.startswith("slow"):
            s.sendto(r, a)
def tcp_conn(c, a):
    with c:
        while True:
            h = c.recv(2)
            if len(h) < 2:
                return
            (n,) = struct.unpack("!H", h)
            q = b""
            while len(q) < n:
                d = c.recv(n - len(q))
                if not d:
                    return
                q += d
            name, r = answer(q, True)
            log.write("tcp %s %s\n" % (a[0], name)); log.flush()
            c.sendall(struct.pack("!H", len(r)) + r)
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((sys.argv[2], 53))
t.listen(16)
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, a = t.accept()
    threading.Thread(target=tcp_conn, args=(c, a), daemon=True).start()
"""

# Sends N queries for slow names (upstream never answers them) to the
# gateway as fast as it can, reading answers as they come; then waits
# until nothing has come for 3 s and prints "sent SERVFAILS": how many
# came back SERVFAIL (rcode 2) for a query of this script, same id and
# question. The receive buffer is large so that none is lost here.
FLOOD = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
qd = b"\x04slow\x04test\x00" + struct.pack("!HH", 1, 1)
n, fails = int(sys.argv[2]), set()
def take(r):
    if (len(r) == 12 + len(qd) and r[12:] == qd and r[2] & 0x80 and
            r[3] & 0x0f == 2 and struct.unpack("!H", r[:2])[0] < n):
        fails.add(r[:2])
for i in range(n):
    s.sendto(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + qd,
             (sys.argv[1], 53))
    s.setblocking(False)
    try:
        while True:
            take(s.recv(4096))
    except BlockingIOError:
        pass
s.settimeout(3)
try:
    while True:
        take(s.recv(4096))
except socket.timeout:
    pass
print("sent", len(fails), flush=True)
"""


@skip_in_vmnet("the forwarder is off by default over vmnet (macOS)")
class DnsForwarderTest(E2E):

    def setUp(self):
        super().setUp()
        self.qlog = self.env.path("upstream.log")
        self.topo = Topology(self.env, {"dns": {"forward": True,
                                                "upstream": [EXT_IP]}})
        p = self.env.popen([PYTHON, "-c", UPSTREAM, self.qlog, EXT_IP],
                           ns=self.topo.ext, text=True)
        self.assertEqual(p.stdout.readline().strip(), "ready")

    def guest(self, name, mac, *opts):
        g = self.topo.guest(name, mac, opts=opts)
        g.dhcp()
        self.assertEqual(g.lease["dns"].split()[0], GATEWAY)
        return g

    def dig(self, g, name, *opts):
        return g.run(["dig", "+time=2", "+tries=1", "@" + GATEWAY, name,
                      "A"] + list(opts), check=False)

    def test_resolves_under_block_host(self):
        g = self.guest("vm1", "02:00:00:00:15:01", "--block", "@host")
        r = self.dig(g, "www.example.test", "+short")
        self.assertEqual(r.stdout.strip(), "10.1.0.3",
                         r.stdout + self.topo.daemon.logtext())
        # The upstream saw the daemon (from the host), never the guest.
        lines = read_lines(self.qlog)
        self.assertIn("udp 10.254.0.1 www.example.test", lines)
        # busybox nslookup too; and the block still holds for the host.
        r = g.run(["busybox", "nslookup", "other.test", GATEWAY],
                  check=False)
        self.assertIn("10.1.0.3", r.stdout)
        self.assertFalse(g.ping(GATEWAY))

    def test_truncated_answer_retried_over_tcp(self):
        g = self.guest("vm1", "02:00:00:00:15:02")
        r = self.dig(g, "big.test", "+noedns")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Truncated, retrying in TCP mode", r.stdout)
        self.assertIn("ANSWER: 100", r.stdout)
        lines = read_lines(self.qlog)
        self.assertIn("udp 10.254.0.1 big.test", lines)
        self.assertIn("tcp 10.254.0.1 big.test", lines)

    def test_flood_is_capped_and_others_resolve(self):
        """One VM floods an upstream that never answers: 64 of its
        queries go out and every other one is answered SERVFAIL (by the
        daemon: upstream answers none of them, and none is queued) and
        counted; another VM's query is still answered by upstream."""
        a = self.guest("vm1", "02:00:00:00:15:03")
        b = self.guest("vm2", "02:00:00:00:15:04")
        r = a.run([PYTHON, "-c", FLOOD, GATEWAY, "500"])
        m = re.match(r"sent (\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        servfails = int(m.group(1))
        # The 64 in flight are still unanswered (upstream never answers
        # them): b's query needs a slot past a's share.
        r = self.dig(b, "ok.test", "+short")
        self.assertEqual(r.stdout.strip(), "10.1.0.3", r.stdout + r.stderr)
        slow = sum(1 for l in read_lines(self.qlog) if "slow" in l)
        self.assertLessEqual(slow, 64)
        self.assertGreater(slow, 0)
        # Every query not forwarded came back SERVFAIL, none lost.
        self.assertEqual(servfails + slow, 500,
                         self.topo.daemon.logtext())
        # Counted per VM (softnetctl stats) and in the status.
        self.assertEqual(self.topo.stats("vm1")["dns_refused"], servfails)
        self.assertEqual(self.topo.stats("vm2")["dns_refused"], 0)
        dns = self.topo.daemon.ctl_json("status")["dns"]
        self.assertEqual(dns["refused_vm_cap"], servfails)
        self.assertEqual(dns["refused"], servfails)
        self.assertEqual(dns["max_per_vm"], 64)
        self.assertLessEqual(dns["in_flight"], 64)
        # And in the human output.
        self.assertIn("%d queries refused" % servfails,
                      self.topo.daemon.ctl("stats", "vm1").stdout)
        self.assertIn("%d refused over a share" % servfails,
                      self.topo.daemon.ctl("status").stdout)

    def test_spoofed_source_gets_nothing(self):
        a = self.guest("vm1", "02:00:00:00:15:05")
        b = self.guest("vm2", "02:00:00:00:15:06")
        # a claims b's address: the filter drops it before the daemon's
        # stack sees it, so no answer reaches b and upstream sees nothing.
        code = ("p = Ether(dst='ff:ff:ff:ff:ff:ff')/IP(src=%r, dst=%r)/"
                "UDP(sport=5353, dport=53)/DNS(rd=1, qd=DNSQR("
                "qname='spoof.test'))\n"
                "sendp(p, count=3)\n" % (b.ip, GATEWAY))
        cap = self.env.path("b.pcap")
        sniff = self.env.popen(["tcpdump", "-i", "eth0", "-n", "-U", "-w",
                                cap, "udp port 53"], ns=b.ns)
        time.sleep(1)
        a.scapy(code)
        time.sleep(1.5)
        sniff.terminate()
        sniff.wait()
        r = b.run(["tcpdump", "-n", "-r", cap], check=False)
        self.assertNotIn("spoof", r.stdout)
        self.assertEqual(r.stdout.strip(), "")
        self.assertFalse(any("spoof" in l for l in read_lines(self.qlog)))
        self.assertGreater(self.topo.stats("vm1")["drops"].get(
            "ip_spoof", 0), 0)


if __name__ == "__main__":
    unittest.main()
