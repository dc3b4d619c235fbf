"""Data plane end to end: real guest kernels get leases from softnetd's DHCP
server (busybox udhcpc), reach the gateway and the ext host, and are kept
apart from each other.
"""

from harness import E2E, EXT_IP, GATEWAY, Topology, wait_for


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
