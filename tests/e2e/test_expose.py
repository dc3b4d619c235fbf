"""Port exposure end to end: `--expose 8080:7` publishes host TCP port 8080
as the guest's echo port 7, through the daemon's userspace proxy. Reached
from the host itself (loopback and the gateway address) and from another
machine (ext, over the host's veth); a second VM cannot take the port; the
port closes at detach. `--expose udp:5353:7` does the same for a UDP
echo service, one mapping per client, idle mappings expiring, under
`--block @host` too.
"""

import json
import time

from harness import (E2E, EXT_LINK_HOST, GATEWAY, PYTHON, Topology,
                     echo_server, nsrun, tcp_exchange)


class ExposeTest(E2E):
    def test_expose_host_ext_conflict_detach(self):
        t = Topology(self.env)
        # Every host address: an admin's explicit choice (root here).
        g = t.guest("vm1", "02:00:00:00:05:01",
                    opts=("--expose", "0.0.0.0:8080:7"))
        echo_server(self.env, g.ns, 7)
        g.dhcp()
        self.assertIn("host TCP port 0.0.0.0:8080 exposed as vm port 7",
                      t.daemon.logtext())

        # From the host: loopback and the uplink's gateway address.
        self.assertEqual(tcp_exchange(t.host, "127.0.0.1", 8080), "match")
        self.assertEqual(tcp_exchange(t.host, GATEWAY, 8080), "match")
        # From another machine, to the host's own address; a bigger load.
        self.assertEqual(tcp_exchange(t.ext, EXT_LINK_HOST, 8080), "match")
        self.assertEqual(tcp_exchange(t.ext, EXT_LINK_HOST, 8080,
                                      size=4 << 20, timeout=20), "match")

        # The port is taken: a second VM asking for it is refused, and
        # nothing of it stays attached.
        g2 = t.guest("vm2", "02:00:00:00:05:02", attach=False)
        r = g2.attach(t.daemon, "--expose", "8080:22", check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("port_in_use", r.stderr)
        self.assertIn("8080", r.stderr)
        names = [v["name"] for v in t.daemon.ctl_json("list")]
        self.assertEqual(names, ["vm1"])
        # The first VM's exposure is unaffected.
        self.assertEqual(tcp_exchange(t.host, "127.0.0.1", 8080), "match")

        # Detach closes the port, from everywhere.
        t.daemon.ctl("detach", "vm1")
        self.assertEqual(tcp_exchange(t.host, "127.0.0.1", 8080),
                         "ConnectionRefusedError")
        self.assertEqual(tcp_exchange(t.ext, EXT_LINK_HOST, 8080),
                         "ConnectionRefusedError")

        # And it is free again for another VM.
        g2.attach(t.daemon, "--expose", "0.0.0.0:8080:7")
        echo_server(self.env, g2.ns, 7)
        g2.dhcp()
        # vm2 gets vm1's old address; the host's neighbour entry still
        # names vm1's MAC until vm2 speaks (its ARP for the gateway fixes
        # it), as a real guest does when it first uses its gateway.
        self.assertTrue(g2.ping(GATEWAY))
        self.assertEqual(tcp_exchange(t.ext, EXT_LINK_HOST, 8080), "match")

    def test_no_lease_closes_client(self):
        t = Topology(self.env)
        t.guest("vm1", "02:00:00:00:05:03", opts=("--expose", "8081:7"))
        # Attached but no DHCP yet: the client is closed, not hung. How
        # the close reaches it depends on timing: EOF, a reset, or (reset
        # before its half-close) ENOTCONN from shutdown.
        res = tcp_exchange(t.host, "127.0.0.1", 8081)
        self.assertIn(res, ("mismatch 0/64", "ConnectionResetError",
                            "ENOTCONN"))


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(65536)
    s.sendto(b"echo " + d, a)
"""

# From one namespace: N clients (sockets of their own) each send their
# own datagrams to ip:port, interleaved, and print what each got back
# and where from, as JSON.
UDP_CLIENTS = r"""
import json, socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
out = [[] for _ in range(n)]
for r in range(3):
    for i, s in enumerate(socks):
        s.sendto(b"c%d r%d" % (i, r), (ip, port))
    for i, s in enumerate(socks):
        s.settimeout(3)
        try:
            d, a = s.recvfrom(65536)
            out[i].append([d.decode(), a[0], a[1]])
        except socket.timeout:
            out[i].append(None)
print(json.dumps(out))
"""


def udp_clients(ns, ip, port, n=1):
    """Runs UDP_CLIENTS in ns; returns, per client, its three replies."""
    r = nsrun(ns, [PYTHON, "-c", UDP_CLIENTS, ip, str(port), str(n)],
              check=False, timeout=40)
    return json.loads(r.stdout) if r.returncode == 0 else r.stderr


def find_key(obj, key):
    """The first value of key anywhere in a JSON document, or None."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


class ExposeUdpTest(E2E):
    """`--expose udp:EXT:INT` (issue #14): a UDP echo service in a guest."""

    def want(self, ip, port, n):
        return [[["echo c%d r%d" % (i, r), ip, port] for r in range(3)]
                for i in range(n)]

    def test_udp_echo_two_clients_idle_block_host(self):
        t = Topology(self.env, {"expose_udp_idle": 2})
        # Under --block @host the VM's replies to the proxy still pass.
        g = t.guest("vm1", "02:00:00:00:05:11",
                    opts=("--expose", "udp:5353:7", "--block", "@host"))
        self.env.popen([PYTHON, "-c", UDP_ECHO, "7"], ns=g.ns,
                       text=True).stdout.readline()
        g.dhcp()
        self.assertIn("host UDP port 127.0.0.1:5353 exposed as vm port 7",
                      t.daemon.logtext())
        # The rule itself holds: the VM cannot reach the host.
        self.assertFalse(g.ping(GATEWAY))

        # Two clients on loopback, each gets only its own echoes, from
        # the address and port it sent to.
        got = udp_clients(t.host, "127.0.0.1", 5353, n=2)
        self.assertEqual(got, self.want("127.0.0.1", 5353, 2))
        # And on the gateway address.
        got = udp_clients(t.host, GATEWAY, 5353, n=1)
        self.assertEqual(got, self.want(GATEWAY, 5353, 1))
        self.assertEqual(
            find_key(t.daemon.ctl_json("status"), "udp_mappings"), 3)
        self.assertEqual(t.stats("vm1")["udp_mappings"], 3)
        self.assertEqual(find_key(t.daemon.ctl_json("show", "vm1"),
                                  "expose"), ["udp:5353:7"])

        # Idle mappings expire (2 s here) and their descriptors return.
        deadline = time.time() + 10
        while time.time() < deadline:
            if find_key(t.daemon.ctl_json("status"), "udp_mappings") == 0:
                break
            time.sleep(0.5)
        self.assertEqual(
            find_key(t.daemon.ctl_json("status"), "udp_mappings"), 0)
        # A client after expiry gets a new mapping that works.
        got = udp_clients(t.host, "127.0.0.1", 5353, n=1)
        self.assertEqual(got, self.want("127.0.0.1", 5353, 1))

        # Detach closes the port.
        t.daemon.ctl("detach", "vm1")
        got = udp_clients(t.host, "127.0.0.1", 5353, n=1)
        self.assertEqual(got, [[None, None, None]])
