"""Hardening of issue 13, end to end, each as the party that would abuse
it: a guest sending IPv4 source routes or frames over the MTU, an
unprivileged member of admin_group by its process's groups (not the group
database), softnetctl reading a reply in blocks.
"""

import json
import subprocess
import time

from harness import (E2E, no_leak_check_env, GATEWAY, PYTHON, SOFTNETCTL, Guest, Topology, run,
                     wait_for)


class GuestHardeningTest(E2E):
    def test_ip_options_dropped(self):
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:00:0d:01")
        ip = g.dhcp()["ip"]
        # A sniffer on the host side of the uplink counts what arrives
        # with IPv4 options.
        sniff = self.env.popen(
            ["tcpdump", "-l", "-n", "-i", "softnet0", "-c", "100",
             "ip[0] & 0xf > 5"], ns=t.host, text=True)
        time.sleep(1.0)
        # Loose and strict source routes via the gateway, record route,
        # and a router alert; then a plain echo that must pass.
        g.scapy(
            "for o in (IPOption_LSRR(routers=['192.0.0.9']),\n"
            "          IPOption_SSRR(routers=['192.0.0.9']),\n"
            "          IPOption_RR(), IPOption_Router_Alert()):\n"
            "    sendp(Ether(dst=getmacbyip('%s'))/IP(src='%s', dst='%s',"
            " options=[o])/ICMP(), count=2)\n" % (GATEWAY, ip, GATEWAY))
        self.assertTrue(g.ping(GATEWAY))
        time.sleep(0.5)
        sniff.terminate()
        out, _ = sniff.communicate(timeout=5)
        self.assertEqual(t.stats("vm1")["drops"].get("ip_options"), 8)
        self.assertNotIn("ICMP", out, "options reached the host: " + out)

    def test_oversize_frame_dropped(self):
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:00:0d:02")
        ip = g.dhcp()["ip"]
        # The guest's link allows more than the 1500 the daemon handed
        # out: a 1600-byte IP packet leaves eth0 whole.
        g.run(["ip", "link", "set", "eth0", "mtu", "2000"])
        g.scapy("sendp(Ether(dst=getmacbyip('%s'))/IP(src='%s', dst='%s')"
                "/ICMP()/Raw(b'x' * 1572), count=3)\n" % (GATEWAY, ip,
                                                          GATEWAY))
        wait_for(lambda: t.stats("vm1")["drops"].get("oversize") == 3,
                 timeout=5, what="three oversize drops")


class AdminGroupTest(E2E):
    def test_admin_by_process_groups(self):
        # admin_group "users": nobody is not a member in /etc/group, but a
        # process of nobody's that holds the group is an admin.
        t = Topology(self.env, {"socket_group": "nogroup",
                                "admin_group": "users"})
        t.guest("rootvm", "02:00:00:00:0d:03")
        base = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
        cmd = [SOFTNETCTL, "-s", t.daemon.sock, "--json", "list"]
        r = run(base + ["--groups=users"] + cmd)
        self.assertEqual([v["name"] for v in json.loads(r.stdout)],
                         ["rootvm"])
        r = run(base + ["--clear-groups"] + cmd)
        self.assertEqual(json.loads(r.stdout), [])


class ClientReadTest(E2E):
    def test_reply_read_in_blocks(self):
        t = Topology(self.env)
        for i in range(4):
            t.guest("vm%d" % i, "02:00:00:00:0d:1%d" % i)
        trace = self.env.path("strace.out")
        r = run(["strace", "-f", "-o", trace, "-e", "trace=read,recvfrom",
                 SOFTNETCTL, "-s", t.daemon.sock, "--json", "list"],
                env=no_leak_check_env())
        self.assertGreater(len(r.stdout), 600)
        with open(trace) as f:
            calls = [l for l in f.read().splitlines()
                     if "read(" in l or "recvfrom(" in l]
        # The loader's few reads plus a handful for the reply; a byte a
        # call would be one per byte of it.
        self.assertLess(len(calls), 60, "%d reads for a %d-byte reply" %
                        (len(calls), len(r.stdout)))


# The owner of a vnet TAP: opens eth0 with virtio-net headers, attaches it
# over the control socket, keeps its copy, and on "go" changes the header
# size under the daemon.
VNET_OWNER = r"""
import fcntl, json, socket, struct, sys
sock, mac = sys.argv[1], sys.argv[2]
TUNSETIFF, TUNSETVNETHDRSZ = 0x400454ca, 0x400454d8
fd = open("/dev/net/tun", "r+b", buffering=0)
# IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"eth0", 0x0002 | 0x1000 | 0x4000))
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sock)
socket.send_fds(c, [json.dumps({"op": "attach", "name": "vnet1"}).encode() + b"\n"], [fd.fileno()])
buf = b""
while b"\n" not in buf:
    buf += c.recv(65536)
print(buf.split(b"\n")[0].decode(), flush=True)
sys.stdin.readline()
fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", 12))
print("changed", flush=True)
sys.stdin.readline()
"""


class VnetHeaderSizeTest(E2E):
    def test_header_size_change_detaches(self):
        t = Topology(self.env)
        g = Guest(self.env, "vnet1", "02:00:00:00:0d:21")
        owner = self.env.popen([PYTHON, "-c", VNET_OWNER, t.daemon.sock,
                                g.mac], ns=g.ns, stdin=subprocess.PIPE,
                               text=True)
        reply = json.loads(owner.stdout.readline())
        self.assertTrue(reply["ok"], reply)
        g.dhcp()
        owner.stdin.write("go\n")
        owner.stdin.flush()
        self.assertEqual(owner.stdout.readline().strip(), "changed")
        g.ping(GATEWAY, count=3)
        wait_for(lambda: t.daemon.ctl_json("list") == [], timeout=5,
                 what="the VM whose TAP changed its header size to go")
        self.assertIn("header size changed", t.daemon.logtext())
