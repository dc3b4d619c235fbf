"""Port exposure end to end: `--expose 8080:7` publishes host TCP port 8080
as the guest's echo port 7, through the daemon's userspace proxy. Reached
from the host itself (loopback and the gateway address) and from another
machine (ext, over the host's veth); a second VM cannot take the port; the
port closes at detach.
"""

from harness import (E2E, EXT_LINK_HOST, GATEWAY, Topology, echo_server,
                     tcp_exchange)


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
