"""Address reservations (issue #14, "Reservations") with busybox udhcpc
guests: dhcp.reservations by MAC and by name, inside and outside the pool;
a reserved address is never given to another MAC, even with the pool
otherwise full; it survives a daemon restart; `leases` shows it as
"reserved" until its VM binds it; `attach --ip` is root/admin_group's, or
a user's only for the address reserved for the MAC or name it attaches;
a lease held from before the reservation is a clear "in use until" error
and gives way when its guest next asks.
"""

import json

from harness import (E2E, GATEWAY, PYTHON, SOFTNETCTL, Topology, nsrun,
                     skip_in_vmnet)
from test_tenants import ATTACH_TAP, as_user

# Four dynamic addresses, .2-.5; .3 is reserved inside the pool and .50
# outside it.
POOL = {"pool_start": "192.168.105.2", "pool_end": "192.168.105.5"}
MAC_A = "02:00:00:00:14:0a"
RES = [{"mac": MAC_A, "ip": "192.168.105.3"},
       {"name": "named", "ip": "192.168.105.50"}]


def reserved_rows(daemon, **kw):
    return [l for l in daemon.ctl_json("leases", **kw)
            if l["state"] == "reserved"]


class ReservationTest(E2E):
    def test_reserved_addresses_only_for_their_vm_and_kept_on_restart(self):
        t = Topology(self.env, {"uplink": POOL,
                                "dhcp": {"reservations": RES}})
        rows = reserved_rows(t.daemon)
        self.assertEqual(
            sorted((r["ip"], r["mac"], r["name"]) for r in rows),
            [("192.168.105.3", MAC_A, None),
             ("192.168.105.50", None, "named")])
        # Three other VMs fill the pool around the reserved .3.
        ips = [t.guest("d%d" % i, "02:00:00:00:14:1%d" % i).dhcp()["ip"]
               for i in range(3)]
        self.assertEqual(sorted(ips), ["192.168.105.2", "192.168.105.4",
                                       "192.168.105.5"])
        # A fourth gets nothing, asking for the reserved address or not.
        late = t.guest("late", "02:00:00:00:14:20")
        self.assertIsNone(late.dhcp(check=False))
        self.assertIsNone(late.dhcp(check=False,
                                    extra=["-r", "192.168.105.3"]))
        # The reserved MAC gets .3; a VM named "named" gets .50, outside
        # the pool, and the gateway answers it there.
        a = t.guest("a", MAC_A)
        self.assertEqual(a.dhcp()["ip"], "192.168.105.3")
        n = t.guest("named", "02:00:00:00:14:30")
        self.assertEqual(n.dhcp()["ip"], "192.168.105.50")
        self.assertTrue(n.ping(GATEWAY, count=2))
        self.assertEqual(reserved_rows(t.daemon), [])
        leases = {l["mac"]: l for l in t.daemon.ctl_json("leases")}
        self.assertEqual(leases[MAC_A]["state"], "bound")

        # Across a restart: the reserved VM is away, the pool is still
        # full, and the address still goes to no one else.
        t.daemon.ctl("detach", "a")
        t.daemon.stop()
        t.daemon.start()
        late.attach(t.daemon)
        self.assertIsNone(late.dhcp(check=False,
                                    extra=["-r", "192.168.105.3"]))
        # .3 shows as reserved; .50 does not: "named"'s lease of it
        # lives on until that VM comes back or it ends.
        self.assertEqual([r["ip"] for r in reserved_rows(t.daemon)],
                         ["192.168.105.3"])
        a.attach(t.daemon)
        self.assertEqual(a.dhcp()["ip"], "192.168.105.3")
        self.assertTrue(a.ping(GATEWAY, count=2))

    def test_older_lease_gives_way(self):
        """A reservation added while another MAC holds the address: attach
        --ip says until when; the holder's next DHCP moves it, and the
        reserved VM gets the address at its next one."""
        t = Topology(self.env, {"uplink": POOL})
        w = t.guest("w", "02:00:00:00:14:40")
        self.assertEqual(w.dhcp()["ip"], "192.168.105.2")
        t.daemon.stop()
        with open(t.daemon.conf) as f:
            cfg = json.load(f)
        cfg["dhcp"] = {"reservations": [{"name": "r",
                                         "ip": "192.168.105.2"}]}
        with open(t.daemon.conf, "w") as f:
            json.dump(cfg, f)
        t.daemon.start()
        w.attach(t.daemon)
        # The live lease of another MAC: a clear error, nothing attached.
        r = t.guest("r", "02:00:00:00:14:41", attach=False)
        res = r.attach(t.daemon, "--ip", "192.168.105.2", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("192.168.105.2 is in use until", res.stderr)
        self.assertEqual([v["name"] for v in t.daemon.ctl_json("list")],
                         ["w"])
        rows = reserved_rows(t.daemon)
        self.assertEqual(len(rows), 1)
        self.assertIsInstance(rows[0]["in_use_until"], int)
        r.attach(t.daemon)
        self.assertEqual(r.dhcp()["ip"], "192.168.105.3")
        # The old holder asks again: it moves; then "r" comes to .2.
        self.assertEqual(w.dhcp()["ip"], "192.168.105.4")
        self.assertEqual(r.dhcp()["ip"], "192.168.105.2")
        self.assertEqual(reserved_rows(t.daemon), [])

    def test_admin_attach_ip(self):
        t = Topology(self.env, {"uplink": POOL,
                                "dhcp": {"reservations": RES}})
        g = t.guest("p", "02:00:00:00:14:50", attach=False)
        g.attach(t.daemon, "--ip", "192.168.105.77")
        rows = reserved_rows(t.daemon)
        self.assertIn(("192.168.105.77", g.mac),
                      [(r["ip"], r["mac"]) for r in rows])
        # Pinned, not yet leased: no one else may pin it.
        o = t.guest("o", "02:00:00:00:14:52", attach=False)
        res = o.attach(t.daemon, "--ip", "192.168.105.77", check=False)
        self.assertIn("taken by another attached VM", res.stderr)
        self.assertEqual(g.dhcp()["ip"], "192.168.105.77")
        # Another VM's reservation, the gateway, another subnet, another
        # VM's pin: refused, each with its own reason.
        h = t.guest("q", "02:00:00:00:14:51", attach=False)
        for ip, code, text in (
                ("192.168.105.3", "ip_in_use", "reserved for MAC " + MAC_A),
                ("192.168.105.1", "bad_ip", "not a VM address"),
                ("10.9.9.9", "bad_ip", "not a VM address"),
                ("192.168.105.77", "ip_in_use", "in use until"),
                ("nonsense", "bad_ip", "IPv4 address")):
            res = h.attach(t.daemon, "--ip", ip, check=False)
            self.assertEqual(res.returncode, 1, ip)
            self.assertIn(text, res.stderr, ip)
        # Detached, the pin is gone and the address free again.
        t.daemon.ctl("detach", "p")
        h.attach(t.daemon, "--ip", "192.168.105.77")
        self.assertEqual(h.dhcp()["ip"], "192.168.105.77")


@skip_in_vmnet("guests attach their TAP as an unprivileged user")
class UserAttachIpTest(E2E):
    def attach_as(self, t, g, user, *opts):
        return nsrun(g.ns, [PYTHON, "-c", ATTACH_TAP, SOFTNETCTL,
                            t.daemon.sock] + as_user(user) +
                     ["--", "--name", g.name] + list(opts), check=False)

    def test_user_attach_ip_only_within_own_reservation(self):
        t = Topology(self.env, {"socket_group": "nogroup", "uplink": POOL,
                                "dhcp": {"reservations": RES}})
        x = t.guest("x", "02:00:00:00:14:60", attach=False)
        # Not reserved for it: refused, nothing attached.
        for ip in ("192.168.105.4", "192.168.105.3", "192.168.105.50"):
            r = self.attach_as(t, x, "nobody", "--ip", ip)
            self.assertEqual(r.returncode, 1, ip)
            self.assertIn("needs root or admin_group", r.stderr, ip)
        self.assertEqual(t.daemon.ctl_json("list"), [])
        # Its MAC's reservation: allowed, and DHCP gives it.
        a = t.guest("a", MAC_A, attach=False)
        r = self.attach_as(t, a, "nobody", "--ip", "192.168.105.3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(a.dhcp()["ip"], "192.168.105.3")
        # Its name's reservation, outside the pool: allowed too.
        n = t.guest("named", "02:00:00:00:14:61", attach=False)
        r = self.attach_as(t, n, "nobody", "--ip", "192.168.105.50")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(n.dhcp()["ip"], "192.168.105.50")
        # A user sees only its own VMs' reservations.
        t.daemon.ctl("detach", "named", user="nobody")
        self.assertEqual(reserved_rows(t.daemon, user="nobody"), [])
        self.assertEqual(reserved_rows(t.daemon, user="daemon"), [])
        self.assertEqual([r["ip"] for r in reserved_rows(t.daemon)],
                         ["192.168.105.50"])
