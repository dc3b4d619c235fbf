"""Tenancy limits end to end (issue #13 items 11-14), each attack made by
the guest or the unprivileged user (uid nobody) that would make it:

- addresses: a user cannot lease the whole pool (max_vms_per_user is
  clamped to the per-uid lease quota, a quarter of the pool stays for
  root/admin), and a guest's DHCPDECLINE loop quarantines at most its
  share (4 addresses), not the pool;
- disk: a guest's DISCOVER flood is rate-limited per VM before the lease
  database (softnetd writes kilobytes, not hundreds of MB a second);
- lease table: 100k rows are served in pages (root's `leases` works, each
  request is short) and idle rows past the retention are purged;
- backlog: one user's never-reading VMs hold at most their share (16 MiB)
  of the 64 MiB backlog budget.
"""

import json
import os
import sqlite3
import subprocess
import time

from harness import (E2E, GATEWAY, PYTHON, SOFTNETCTL, Client, Daemon,
                     Topology, run, skip_in_vmnet, wait_for)


def setpriv(user):
    return ["setpriv", "--reuid=" + user, "--regid=nogroup",
            "--clear-groups"]


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise AssertionError("no write_bytes in /proc/%d/io" % pid)


# A guest floods DISCOVERs for `secs` seconds (one MAC, its own).
DISCOVER_FLOOD = r"""
import time
mac = get_if_hwaddr('eth0')
f = raw(Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') /
        IP(src='0.0.0.0', dst='255.255.255.255') /
        UDP(sport=68, dport=67) /
        BOOTP(chaddr=mac2str(mac), xid=0x1234) /
        DHCP(options=[('message-type', 'discover'), 'end']))
s = conf.L2socket(iface='eth0')
t, n = time.time(), 0
while time.time() - t < %(secs)f:
    s.send(f)
    n += 1
print(n)
"""

# A guest binds an address and declines it, over and over, for `secs`.
DECLINE_LOOP = r"""
import time
conf.checkIPaddr = False  # replies come from the gateway, not 255.255.255.255
mac = get_if_hwaddr('eth0')
gw = '%(gw)s'
def msg(t, extra):
    return (Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') /
            IP(src='0.0.0.0', dst='255.255.255.255') /
            UDP(sport=68, dport=67) /
            BOOTP(chaddr=mac2str(mac), xid=0x4321) /
            DHCP(options=[('message-type', t)] + extra + ['end']))
def yiaddr(r):
    return r[BOOTP].yiaddr if r is not None and BOOTP in r else None
t, declined = time.time(), 0
while time.time() - t < %(secs)f:
    r = srp1(msg('discover', []), timeout=1)
    ip = yiaddr(r)
    if not ip:
        continue
    r = srp1(msg('request', [('server_id', gw), ('requested_addr', ip)]),
             timeout=1)
    if r is None or DHCP not in r or ('message-type', 5) not in \
            r[DHCP].options:
        continue
    sendp(msg('decline', [('server_id', gw), ('requested_addr', ip)]))
    declined += 1
print(declined)
"""

# Uid nobody attaches up to N socketpair VMs and leases an address for
# each over its pair, then prints a JSON summary and holds everything
# until stdin closes. With "stall" the VMs' sockets get a small receive
# buffer and are never read after the lease.
FAKE_VMS = r"""
import json, socket, subprocess, sys, time
import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import Ether, IP, UDP, BOOTP, DHCP, mac2str, raw
ctl, sock, n, gw, stall = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4], sys.argv[5] == 'stall'
held, attached, leased, refused = [], 0, [], ''
def msg(mac, t, extra):
    return raw(Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') /
               IP(src='0.0.0.0', dst='255.255.255.255') /
               UDP(sport=68, dport=67) /
               BOOTP(chaddr=mac2str(mac), xid=7) /
               DHCP(options=[('message-type', t)] + extra + ['end']))
def reply(b, want):
    end = time.time() + 2
    while time.time() < end:
        b.settimeout(max(0.01, end - time.time()))
        try:
            d = b.recv(4096)
        except socket.timeout:
            return None
        p = Ether(d)
        if DHCP in p and ('message-type', want) in p[DHCP].options:
            return p[BOOTP].yiaddr
    return None
for i in range(n):
    mac = '02:77:00:00:%02x:%02x' % (i >> 8, i & 0xff)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    r = subprocess.run([ctl, '-s', sock, 'attach', '--fd', str(a.fileno()),
                        '--mac', mac], pass_fds=[a.fileno()],
                       capture_output=True, text=True)
    a.close()
    if r.returncode != 0:
        refused = r.stderr.strip()
        b.close()
        break
    attached += 1
    held.append(b)
    ip = None
    for _ in range(3):
        b.send(msg(mac, 'discover', []))
        ip = reply(b, 2)
        if ip:
            break
    if ip:
        b.send(msg(mac, 'request', [('server_id', gw),
                                     ('requested_addr', ip)]))
        if reply(b, 5):
            leased.append([mac, ip])
    if stall:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
print(json.dumps({'attached': attached, 'leased': leased,
                  'refused': refused}), flush=True)
sys.stdin.read()
"""


class TenancyTest(E2E):
    def fake_vms(self, d, n, stall=False):
        """Runs FAKE_VMS as nobody; returns (summary, process)."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", d.ns] + setpriv("nobody") +
            [PYTHON, "-c", FAKE_VMS, SOFTNETCTL, d.sock, str(n), GATEWAY,
             "stall" if stall else "read"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def stop():
            p.stdin.close()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.addCleanup(stop)
        line = p.stdout.readline()
        self.assertTrue(line, "the fake VMs printed nothing")
        return json.loads(line), p

    # --- item 11: addresses ----------------------------------------------

    @skip_in_vmnet("guests on TAPs")
    def test_user_cannot_lease_the_whole_pool(self):
        # Eight addresses: a user may hold six, two stay for root/admin.
        t = Topology(self.env, {
            "socket_group": "nogroup",
            "uplink": {"pool_start": "192.168.105.2",
                       "pool_end": "192.168.105.9"}})
        got, _ = self.fake_vms(t.daemon, 10)
        self.assertEqual(got["attached"], 6, got)
        self.assertEqual(len(got["leased"]), 6, got)
        self.assertIn("max_vms_per_user", got["refused"])
        # Root's VM still gets an address.
        g = t.guest("rootvm", "02:00:00:00:11:01")
        self.assertIsNotNone(g.dhcp(check=False), t.daemon.logtext())
        ten = t.daemon.ctl_json("status")["tenancy"]
        self.assertEqual(ten["max_leases_per_user"], 6)
        self.assertEqual(ten["max_vms_per_user"], 6)

    @skip_in_vmnet("guests on TAPs")
    def test_decline_loop_quarantines_only_its_share(self):
        t = Topology(self.env)
        bad = t.guest("bad", "02:00:00:00:12:01")
        out = bad.scapy(DECLINE_LOOP % {"secs": 8.0, "gw": GATEWAY},
                        timeout=60)
        declined = int(out.stdout.split()[-1])
        self.assertGreater(declined, 4)
        db = sqlite3.connect("file:%s?mode=ro" % t.daemon.db, uri=True)
        try:
            q = db.execute("SELECT count(*) FROM quarantine WHERE until > ?",
                           (int(time.time()),)).fetchone()[0]
        finally:
            db.close()
        self.assertLessEqual(q, 4)
        ten = t.daemon.ctl_json("status")["tenancy"]
        self.assertGreater(ten["decline_unquarantined"], 0)
        # Everyone else still gets addresses.
        good = t.guest("good", "02:00:00:00:12:02")
        self.assertIsNotNone(good.dhcp(check=False))

    # --- item 12: disk and the event loop ---------------------------------

    @skip_in_vmnet("guests on TAPs")
    def test_discover_flood_is_rate_limited(self):
        t = Topology(self.env)
        bad = t.guest("bad", "02:00:00:00:13:01")
        good = t.guest("good", "02:00:00:00:13:02")
        good.dhcp()
        pid = t.daemon.proc.pid
        with open("/proc/%d/comm" % pid) as f:
            self.assertEqual(f.read().strip(), "softnetd")
        before = write_bytes(pid)
        flood = subprocess.Popen(
            ["ip", "netns", "exec", bad.ns, PYTHON, "-c",
             "import logging\n"
             "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)\n"
             "from scapy.all import *\nconf.verb=0\n" +
             DISCOVER_FLOOD % {"secs": 4.0}],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: flood.poll() is None and flood.kill())
        time.sleep(0.5)
        r = good.run(["ping", "-n", "-q", "-c", "10", "-i", "0.2", GATEWAY],
                     check=False)
        sent = int(flood.communicate(timeout=30)[0].split()[-1])
        written = write_bytes(pid) - before
        self.assertGreater(sent, 1000)
        # Today: 155-390 MB/s. Now a handful of messages reach sqlite.
        self.assertLess(written, 2 << 20, "softnetd wrote %d bytes" % written)
        self.assertIn(" 0% packet loss", r.stdout)
        st = t.stats("bad")
        self.assertGreater(st["drops"]["dhcp_rate"], sent // 2)
        ten = t.daemon.ctl_json("status")["tenancy"]
        self.assertGreater(ten["dhcp_rate_limited"], sent // 2)
        # The flooder itself still gets a lease at a client's pace.
        self.assertIsNotNone(bad.dhcp(check=False))

    # --- item 13: the lease table -----------------------------------------

    def test_leases_paged_and_purged(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup"}).start()
        d.stop()
        now = int(time.time())
        db = sqlite3.connect(d.db)
        rows = []
        for i in range(100000):
            mac = "02:88:%02x:%02x:%02x:%02x" % (
                i >> 24, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
            # 1000 rows idle for 30 days (past the 7-day retention).
            granted = now - 30 * 86400 if i < 1000 else now
            rows.append((mac, "released", 65534 if i % 2 else 0, granted))
        db.executemany("INSERT INTO leases (mac, state, owner, granted) "
                       "VALUES (?, ?, ?, ?)", rows)
        db.commit()
        db.close()
        d.start()
        # One request is one page, whoever asks: never the 100k rows (a
        # size, not a time: how long a page takes is make bench's).
        c = Client(d.sock)
        after = None
        seen = set()
        for _ in range(20):
            req = {"op": "leases"}
            if after:
                req["after"] = after
            r = c.call(req)
            self.assertTrue(r["ok"], r)
            self.assertGreater(len(r["leases"]), 0)
            self.assertLessEqual(len(r["leases"]), 500)
            macs = {x["mac"] for x in r["leases"]}
            self.assertFalse(macs & seen)  # pages do not overlap
            seen |= macs
            after = r["next"]
        c.close()
        # Root's full listing works (today the 100k-row reply is refused).
        t0 = time.monotonic()
        r = d.ctl("--json", "leases", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        allrows = json.loads(r.stdout)
        self.assertGreaterEqual(len(allrows), 99000)
        # nobody sees only its own rows.
        mine = d.ctl_json("leases", user="nobody")
        self.assertTrue(all(x["owner"] == 65534 for x in mine))
        self.assertGreaterEqual(len(mine), 49500)
        # Idle rows past the retention are purged in bounded sweeps.
        wait_for(lambda: d.ctl_json("status")["tenancy"]
                 ["leases_purged"] >= 1000, timeout=30,
                 what="idle rows to be purged")
        db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
        try:
            n = db.execute("SELECT count(*) FROM leases").fetchone()[0]
        finally:
            db.close()
        self.assertEqual(n, 99000)

    # --- item 14: the backlog budget --------------------------------------

    @skip_in_vmnet("host-side neighbours on the TAP uplink")
    def test_backlog_share_per_user(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        got, _ = self.fake_vms(t.daemon, 40, stall=True)
        self.assertEqual(len(got["leased"]), 40, got)
        # The host sends to every stalled VM: each wants a 512 KiB backlog.
        code = ("import socket,sys,json\n"
                "vms=json.loads(sys.argv[1])\n"
                "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "for _ in range(300):\n"
                " for mac,ip in vms:\n"
                "  try: s.sendto(b'x'*1400,(ip,9))\n"
                "  except OSError: pass\n")
        for mac, ip in got["leased"]:
            run(["ip", "netns", "exec", t.host, "ip", "neigh", "replace",
                 ip, "lladdr", mac, "dev", "softnet0"])
        run(["ip", "netns", "exec", t.host, PYTHON, "-c", code,
             json.dumps(got["leased"])], timeout=120)
        ten = t.daemon.ctl_json("status")["tenancy"]
        self.assertLessEqual(ten["backlog_bytes"], 16 << 20)
        self.assertGreater(ten["backlog_share_drops"], 0)
        # Root's VM is not starved: it still gets its traffic.
        g = t.guest("rootvm", "02:00:00:00:14:01")
        g.dhcp()
        self.assertTrue(g.ping(GATEWAY, count=3))
