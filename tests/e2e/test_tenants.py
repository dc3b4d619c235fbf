"""Trust between tenants (issue #13 items 1, 2, 4, 5, 6), end to end and
as the unprivileged user who would attack: the daemon's own MACs cannot be
attached, a MAC and its lease stay with their owner across a detach and a
daemon restart until an admin releases them, another user's VMs answer as
missing ones, --expose binds only what the user could bind, and "@host"
covers every host address.

Users: "nobody" (A, the victim) and "daemon" (B, the attacker), both in
group nogroup, the socket's group; neither is root or in admin_group.
"""

import json
import os
import socket
import time

from harness import (E2E, EXT_IP, EXT_LINK_HOST, GATEWAY, PYTHON,
                     SOFTNETCTL, Topology, echo_server, nsrun, run,
                     skip_in_vmnet, wait_for)

VICTIM = "nobody"
ATTACKER = "daemon"
CONF = {"socket_group": "nogroup"}

# Attaches one datagram socket pair end with softnetctl as the calling
# user; prints the exit status and stderr as JSON.
ATTACH_PAIR = r"""
import json, socket, subprocess, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
r = subprocess.run([sys.argv[1], "-s", sys.argv[2], "attach", "--fd",
                    str(a.fileno())] + sys.argv[3:], pass_fds=[a.fileno()],
                   capture_output=True, text=True)
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr}))
"""


# Opens the TAP eth0 in this namespace (as root) and attaches it with
# softnetctl run as the user: argv = softnetctl socket setpriv... -- opts.
ATTACH_TAP = r"""
import fcntl, os, struct, subprocess, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"eth0", 0x0002 | 0x1000))
os.set_inheritable(fd, True)
sep = sys.argv.index("--")
r = subprocess.run(sys.argv[3:sep] + [sys.argv[1], "-s", sys.argv[2],
                   "attach", "--fd", str(fd)] + sys.argv[sep + 1:],
                   pass_fds=[fd], capture_output=True, text=True)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
sys.exit(r.returncode)
"""


def as_user(user):
    return ["setpriv", "--reuid=" + user, "--regid=nogroup",
            "--clear-groups"]


def attach_pair_as(daemon, user, *args):
    """softnetctl attach --fd (a socket pair) as user; {rc, out, err}."""
    r = run(as_user(user) + [PYTHON, "-c", ATTACH_PAIR, SOFTNETCTL,
                             daemon.sock] + list(args))
    return json.loads(r.stdout)


def tcp_from(ns, ip, port, payload="hi", timeout=3):
    """Connects from namespace ns; the echo, or None when it failed."""
    code = ("import socket,sys\n"
            "try:\n"
            " s=socket.create_connection((%r,%d),timeout=%d)\n"
            " s.sendall(%r.encode()); s.shutdown(1)\n"
            " d=b''\n"
            " while True:\n"
            "  c=s.recv(4096)\n"
            "  if not c: break\n"
            "  d+=c\n"
            " sys.stdout.write(d.decode())\n"
            "except Exception:\n"
            " sys.exit(1)\n" % (ip, port, timeout, payload))
    r = nsrun(ns, [PYTHON, "-c", code], check=False, timeout=timeout + 10)
    return r.stdout if r.returncode == 0 else None


@skip_in_vmnet("guests attach their TAP as an unprivileged user")
class TenantTest(E2E):
    def user_guest(self, t, name, mac, user):
        """A guest (its TAP is attached later by attach_as)."""
        return t.guest(name, mac, attach=False)

    def attach_as(self, t, g, user, *opts, check=True):
        """Attaches g's TAP as user: root opens the TAP (as a VM manager
        holds its VM's device) and the user's softnetctl hands it over,
        so the request comes with the user's credentials."""
        r = nsrun(g.ns, [PYTHON, "-c", ATTACH_TAP, SOFTNETCTL,
                         t.daemon.sock] + as_user(user) +
                  ["--", "--name", g.name] + list(opts), check=False)
        if check and r.returncode != 0:
            raise AssertionError("attach as %s failed: %s %s" %
                                 (user, r.stdout, r.stderr))
        return r

    # -- item 1 -------------------------------------------------------------

    def test_daemon_macs_cannot_be_attached(self):
        t = Topology(self.env, CONF)
        vm1 = t.guest("vm1", "02:00:00:00:d1:01")
        vm1.dhcp()
        self.assertTrue(vm1.ping(GATEWAY))
        up_mac = t.daemon.ctl_json("status", user=ATTACKER)["uplink"]["mac"]
        r = attach_pair_as(t.daemon, ATTACKER, "--mac", up_mac)
        self.assertEqual(r["rc"], 1, r)
        self.assertIn("softnetd's own MAC", r["err"])
        self.assertEqual([v["name"] for v in t.daemon.ctl_json("list")],
                         ["vm1"])
        # Root cannot either: the switch would still be hijacked.
        r = attach_pair_as(t.daemon, "root", "--mac", up_mac.upper())
        self.assertEqual(r["rc"], 1, r)
        self.assertTrue(vm1.ping(GATEWAY, count=3))
        self.assertEqual(tcp_from(vm1.ns, GATEWAY, 1, timeout=1), None)

    # -- item 2 -------------------------------------------------------------

    def test_mac_and_lease_stay_with_their_owner(self):
        t = Topology(self.env, CONF)
        mac = "02:00:00:00:d2:01"
        a = self.user_guest(t, "avm", mac, VICTIM)
        self.attach_as(t, a, VICTIM)
        lease = a.dhcp()
        # A detaches: the MAC stays A's (the VM comes back to it).
        t.daemon.ctl("detach", "avm", user=VICTIM)
        r = attach_pair_as(t.daemon, ATTACKER, "--mac", mac)
        self.assertEqual(r["rc"], 1, r)
        self.assertIn("is in use", r["err"])
        # A comes back: same MAC, same address; then the daemon restarts
        # with A's VM attached and A's lease bound.
        self.attach_as(t, a, VICTIM)
        self.assertEqual(a.dhcp()["ip"], lease["ip"])
        t.daemon.stop()
        t.daemon.start()
        r = attach_pair_as(t.daemon, ATTACKER, "--mac", mac, "--name", "x")
        self.assertEqual(r["rc"], 1, r)
        self.assertEqual(self.mac_in_use_code(t, mac), "mac_in_use")
        rows = [l for l in t.daemon.ctl_json("leases")
                if l["mac"] == mac]
        self.assertEqual(rows[0]["owner"], 65534)
        self.assertEqual(rows[0]["ip"], lease["ip"])
        self.assertEqual(rows[0]["state"], "bound")
        # B can neither see nor release A's lease.
        self.assertEqual(t.daemon.ctl_json("leases", user=ATTACKER), [])
        r = t.daemon.ctl("leases", "release", mac, user=ATTACKER,
                         check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no lease for MAC", r.stderr)
        # A re-attaches after the restart and keeps the address.
        self.attach_as(t, a, VICTIM)
        self.assertEqual(t.daemon.ctl_json("show", "avm",
                                           user=VICTIM)["ip"], lease["ip"])
        # Attached: even an admin must detach first.
        r = t.daemon.ctl("leases", "release", mac, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("detach it first", r.stderr)
        t.daemon.ctl("detach", "avm", user=VICTIM)
        t.daemon.ctl("leases", "release", mac)
        self.assertEqual([l for l in t.daemon.ctl_json("leases")
                          if l["mac"] == mac], [])
        r = attach_pair_as(t.daemon, ATTACKER, "--mac", mac)
        self.assertEqual(r["rc"], 0, r)
        self.assertEqual([v["owner"] for v in t.daemon.ctl_json("list")],
                         [1])

    def mac_in_use_code(self, t, mac):
        """The machine code of B's refusal, from the raw protocol."""
        code = (
            "import json,socket,sys\n"
            "a,b=socket.socketpair(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
            "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n"
            "s.connect(sys.argv[1])\n"
            "m=json.dumps({'op':'attach','mac':sys.argv[2]})+'\\n'\n"
            "s.sendmsg([m.encode()],[(socket.SOL_SOCKET,socket.SCM_RIGHTS,"
            "bytes(memoryview(__import__('array').array('i',"
            "[a.fileno()]))))])\n"
            "print(s.makefile().readline())\n")
        r = run(as_user(ATTACKER) + [PYTHON, "-c", code, t.daemon.sock,
                                     mac])
        return json.loads(r.stdout)["error"]["code"]

    def test_owner_may_release_and_admin_takes_over(self):
        t = Topology(self.env, CONF)
        mac = "02:00:00:00:d2:02"
        r = attach_pair_as(t.daemon, VICTIM, "--mac", mac, "--name", "a")
        self.assertEqual(r["rc"], 0, r)
        t.daemon.ctl("detach", "a", user=VICTIM)
        # An admin attaching it takes it over: the row is now root's.
        r = attach_pair_as(t.daemon, "root", "--mac", mac)
        self.assertEqual(r["rc"], 0, r)
        self.assertEqual([l["owner"] for l in t.daemon.ctl_json("leases")
                          if l["mac"] == mac], [0])
        t.daemon.ctl("detach", mac)
        r = attach_pair_as(t.daemon, VICTIM, "--mac", mac)
        self.assertEqual(r["rc"], 1, r)
        # The owner (root here) releases; then anyone may attach it.
        t.daemon.ctl("leases", "release", mac)
        r = attach_pair_as(t.daemon, VICTIM, "--mac", mac, "--name", "a")
        self.assertEqual(r["rc"], 0, r)
        t.daemon.ctl("detach", "a", user=VICTIM)
        t.daemon.ctl("leases", "release", mac, user=VICTIM)
        self.assertEqual(t.daemon.ctl_json("leases"), [])

    # -- item 4 -------------------------------------------------------------

    def test_other_users_vms_answer_as_missing(self):
        t = Topology(self.env, CONF)
        r = attach_pair_as(t.daemon, "root", "--mac", "02:00:00:00:d4:01",
                           "--name", "secret")
        self.assertEqual(r["rc"], 0, r)
        vid = str(t.daemon.ctl_json("list")[0]["id"])
        for verb in ("show", "detach", "stats"):
            for hidden, missing in (("secret", "nosuch"),
                                    ("02:00:00:00:d4:01",
                                     "02:00:00:00:d4:99"),
                                    (vid, "999")):
                h = t.daemon.ctl(verb, hidden, user=ATTACKER, check=False)
                m = t.daemon.ctl(verb, missing, user=ATTACKER, check=False)
                self.assertEqual(h.returncode, m.returncode)
                self.assertEqual(h.stderr.replace(hidden, "X"),
                                 m.stderr.replace(missing, "X"))
        h = t.daemon.ctl("policy", "show", "secret", user=ATTACKER,
                         check=False)
        self.assertIn("no VM secret attached", h.stderr)
        # Names are per owner: the attacker's "secret" reveals nothing.
        r = attach_pair_as(t.daemon, ATTACKER, "--mac", "02:00:00:00:d4:02",
                           "--name", "secret")
        self.assertEqual(r["rc"], 0, r)
        mine = t.daemon.ctl_json("show", "secret", user=ATTACKER)
        self.assertEqual(mine["mac"], "02:00:00:00:d4:02")
        # An admin sees two VMs of that name and must pick by id or MAC.
        r = t.daemon.ctl("show", "secret", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("several VMs", r.stderr)
        self.assertEqual(len(t.daemon.ctl_json("list")), 2)

    # -- item 5 -------------------------------------------------------------

    def test_unprivileged_expose_binds_only_what_the_user_could(self):
        t = Topology(self.env, CONF)
        for spec, why in (("80:7", "below 1024"),
                          ("0.0.0.0:8080:7", "other than loopback"),
                          (EXT_LINK_HOST + ":8080:7", "other than loopback"),
                          # UDP (issue #14): the same rules as TCP.
                          ("udp:80:7", "below 1024"),
                          ("udp:0.0.0.0:8080:7", "other than loopback")):
            r = attach_pair_as(t.daemon, ATTACKER, "--mac",
                               "02:00:00:00:d5:09", "--expose", spec)
            self.assertEqual(r["rc"], 1, (spec, r))
            self.assertIn(why, r["err"])
        self.assertEqual(t.daemon.ctl_json("list"), [])
        g = self.user_guest(t, "web", "02:00:00:00:d5:01", ATTACKER)
        self.attach_as(t, g, ATTACKER, "--expose", "8080:7")
        g.dhcp()
        echo_server(self.env, g.ns, 7)
        self.assertEqual(tcp_from(t.host, "127.0.0.1", 8080), "hi")
        self.assertEqual(tcp_from(t.host, GATEWAY, 8080), "hi")
        # Not on the host's other addresses: not from outside the host.
        self.assertEqual(tcp_from(t.ext, EXT_LINK_HOST, 8080), None)
        self.assertEqual(tcp_from(t.host, EXT_LINK_HOST, 8080), None)
        # An admin may ask for every address.
        t.daemon.ctl("detach", "web", user=ATTACKER)
        self.attach_as(t, g, "root", "--expose", "0.0.0.0:8080:7")
        g.dhcp()  # a detach released the lease
        self.assertEqual(tcp_from(t.ext, EXT_LINK_HOST, 8080), "hi")

    def test_expose_works_under_block_host(self):
        t = Topology(self.env, CONF)
        g = self.user_guest(t, "web", "02:00:00:00:d5:02", ATTACKER)
        self.attach_as(t, g, ATTACKER, "--block", "@host", "--expose",
                       "8081:7")
        g.dhcp()
        echo_server(self.env, g.ns, 7)
        self.assertEqual(tcp_from(t.host, "127.0.0.1", 8081, "x" * 5000),
                         "x" * 5000)
        # The block still holds for the VM's own connections to the host.
        echo_server(self.env, t.host, 9)
        self.assertEqual(g.tcp(GATEWAY, 9, timeout=2), None)
        self.assertTrue(t.stats("web")["drops"]["policy"] > 0)

    # -- item 6 -------------------------------------------------------------

    def test_block_host_covers_every_host_address(self):
        t = Topology(self.env, CONF)
        g = self.user_guest(t, "vm", "02:00:00:00:d6:01", ATTACKER)
        self.attach_as(t, g, ATTACKER, "--allow", "0.0.0.0/0", "--block",
                       "@host")
        g.dhcp()
        echo_server(self.env, t.host, 9)
        t.ext_echo(7)
        # The allow rule works: the outside is reachable...
        self.assertEqual(g.tcp(EXT_IP, 7), "hello")
        # ...but no address of the host is.
        self.assertEqual(g.tcp(GATEWAY, 9, timeout=2), None)
        self.assertEqual(g.tcp(EXT_LINK_HOST, 9, timeout=2), None)
        # An address the host gains later is covered within the refresh.
        nsrun(t.host, ["ip", "addr", "add", "10.253.0.1/32", "dev", "lo"])
        time.sleep(3)
        self.assertEqual(g.tcp("10.253.0.1", 9, timeout=2), None)
        # Without the block the same host addresses answer (the test
        # would pass vacuously otherwise).
        t.daemon.ctl("policy", "set", "vm", "--allow", "0.0.0.0/0",
                     user=ATTACKER)
        self.assertEqual(g.tcp(EXT_LINK_HOST, 9), "hello")
        self.assertEqual(g.tcp("10.253.0.1", 9), "hello")
