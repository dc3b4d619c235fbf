"""DHCP interop with real clients (issue 14 items 1-9).

Each test drives a real client in a guest namespace where one shows the
deviation: dhcping (a renewal with ciaddr + option 50), ISC dhclient
(INIT-REBOOT from a lease file, option 61, option 81 only, classless
routes), busybox udhcpc (options asked with -O, a long hostname) and, for
what no installed client sends on demand (a DECLINE, a malformed option, a
NAK's message), scapy in the guest. dhclient runs with a private config,
script, lease and pid file in the test's temp dir, so nothing on the host's
/etc is read for writing or touched.
"""

import json
import os
import re
import shutil
import time

from harness import E2E, GATEWAY, Topology, nsrun, wait_for

DHCLIENT_SCRIPT = r"""#!/bin/sh
# dhclient-script stand-in: configure eth0, record what the server said.
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
	ip -4 addr flush dev "$interface"
	ip addr add "$new_ip_address/24" dev "$interface"
	env | grep '^new_' | sort > "%(out)s.tmp"
	mv "%(out)s.tmp" "%(out)s"
	;;
esac
exit 0
"""

# udhcpc event script that records every variable udhcpc exports.
UDHCPC_ENV_SCRIPT = r"""#!/bin/sh
case "$1" in
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	env | sort > "$LEASE_OUT.tmp"
	mv "$LEASE_OUT.tmp" "$LEASE_OUT"
	;;
esac
exit 0
"""

LEASE_FILE = """lease {
  interface "eth0";
  fixed-address %(ip)s;
  option subnet-mask 255.255.255.0;
  option dhcp-lease-time 600;
  option dhcp-server-identifier %(gw)s;
  renew 4 2037/01/01 00:00:00;
  rebind 4 2037/01/01 00:00:00;
  expire 4 2037/01/01 00:00:00;
}
"""


def need(tool):
    """The path of tool, or None (the test is skipped)."""
    return shutil.which(tool)


def read_env(path):
    with open(path) as f:
        return dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)


class DhcpInteropTest(E2E):
    def dhclient(self, g, conf="", lease=None, timeout=30):
        """Runs dhclient -1 in g with private files; returns new_* vars."""
        if need("dhclient") is None:
            self.skipTest("isc-dhcp-client is not installed (tests/deps.sh)")
        out = self.env.path("dhclient-%s.env" % g.name)
        if os.path.exists(out):
            os.unlink(out)
        script = self.env.path("dhclient-%s.sh" % g.name)
        with open(script, "w") as f:
            f.write(DHCLIENT_SCRIPT % {"out": out})
        os.chmod(script, 0o755)
        cf = self.env.path("dhclient-%s.conf" % g.name)
        with open(cf, "w") as f:
            f.write(conf)
        lf = self.env.path("dhclient-%s.leases" % g.name)
        with open(lf, "w") as f:
            f.write(lease or "")
        pf = self.env.path("dhclient-%s.pid" % g.name)
        r = nsrun(g.ns, ["dhclient", "-1", "-v", "-cf", cf, "-sf", script,
                         "-lf", lf, "-pf", pf, "eth0"],
                  check=False, timeout=timeout)
        # dhclient stays as a daemon after binding: Env.close kills every
        # process of the namespace; stop it now so it sends nothing more.
        if os.path.exists(pf):
            with open(pf) as f:
                pid = f.read().strip()
            if pid.isdigit():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(out), r.stdout + r.stderr)
        return read_env(out), r.stderr

    def lease_of(self, t, mac):
        for l in t.daemon.ctl_json("leases"):
            if l["mac"] == mac and l["state"] != "quarantined":
                return l
        return None

    def request(self, g, ciaddr, opts, xid):
        """Sends a REQUEST from g with ciaddr and options (scapy names);
        returns the reply's options as a dict ({} when none came)."""
        code = ("conf.checkIPaddr = False\n"
                "p = (Ether(src=%r, dst='ff:ff:ff:ff:ff:ff') /"
                " IP(src=%r, dst='255.255.255.255') /"
                " UDP(sport=68, dport=67) /"
                " BOOTP(chaddr=bytes.fromhex(%r), ciaddr=%r, xid=%d) /"
                " DHCP(options=[('message-type', 'request')] + %r +"
                " ['end']))\n"
                "r = srp1(p, timeout=5, filter='udp and port 68')\n"
                "print(repr(dict(o for o in r[DHCP].options"
                " if isinstance(o, tuple))) if r else '{}')\n"
                % (g.mac, ciaddr, g.mac.replace(":", ""), ciaddr, xid,
                   opts))
        return eval(g.scapy(code).stdout.strip())

    def test_1_renewal_with_option_50_or_54_is_acked(self):
        """dhcping's REQUEST (ciaddr + option 50) and a renewal with
        ciaddr + option 54 are ACKed; a NAK never cuts off a VM whose
        lease the database still holds."""
        if need("dhcping") is None:
            self.skipTest("dhcping is not installed (tests/deps.sh)")
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:01:01")
        ip = g.dhcp()["ip"]
        self.assertTrue(g.ping(GATEWAY))
        r = nsrun(g.ns, ["dhcping", "-V", "-t", "3", "-c", ip, "-s", GATEWAY,
                         "-h", g.mac], check=False, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # dhcping -V prints the reply: an ACK (5), not a NAK (6).
        answer = r.stdout.split("Got answer from:", 1)[-1]
        self.assertIn("DHCP message type: 5 (DHCPACK)", answer, r.stdout)
        # dhcping then RELEASEs: the port and the database agree on it.
        vm = [v for v in t.daemon.ctl_json("list") if v["name"] == "vm1"][0]
        self.assertIsNone(vm["ip"])
        self.assertEqual(self.lease_of(t, g.mac)["state"], "released")

        self.assertEqual(g.dhcp()["ip"], ip)
        # A renewal with ciaddr and option 54 only.
        o = self.request(g, ip, [("server_id", GATEWAY)], 0x1411)
        self.assertEqual(o.get("message-type"), 5, o)
        # A renewal whose option 50 names another address: NAK, but the
        # VM still holds ip in the database, so its traffic still flows.
        o = self.request(g, ip, [("requested_addr", "192.168.105.99")],
                         0x1412)
        self.assertEqual(o.get("message-type"), 6, o)
        vm = [v for v in t.daemon.ctl_json("list") if v["name"] == "vm1"][0]
        self.assertEqual(vm["ip"], ip)
        self.assertEqual(self.lease_of(t, g.mac)["state"], "bound")
        self.assertTrue(g.ping(GATEWAY))
        self.assertEqual(t.stats("vm1")["drops"].get("no_lease", 0), 0)

    def test_2_init_reboot_for_another_address_is_naked(self):
        """dhclient INIT-REBOOT for a free B while the VM is bound to A:
        NAK (RFC 2131 4.3.2), and dhclient comes back with A."""
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:02:01")
        a = g.dhcp()["ip"]
        b = "192.168.105.77"
        lease = LEASE_FILE % {"ip": b, "gw": GATEWAY}
        env, log = self.dhclient(g, lease=lease)
        self.assertIn("DHCPNAK", log)
        self.assertEqual(env["new_ip_address"], a)
        self.assertEqual(self.lease_of(t, g.mac)["ip"], a)
        self.assertTrue(g.ping(GATEWAY))

    def test_3_4_client_id_and_fqdn_recorded(self):
        """dhclient sending option 61 and only option 81: the id is
        echoed and shown in leases --json, the FQDN's host part becomes
        the hostname and its domain is kept."""
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:03:01")
        conf = ("send dhcp-client-identifier 1:02:00:00:14:03:01;\n"
                "send fqdn.fqdn \"web1.lab.example.\";\n"
                "send fqdn.encoded on;\n"
                "request subnet-mask, routers, dhcp-client-identifier;\n")
        env, _ = self.dhclient(g, conf=conf)
        self.assertEqual(env.get("new_dhcp_client_identifier"),
                         "1:2:0:0:14:3:1")
        l = self.lease_of(t, g.mac)
        self.assertEqual(l["client_id"], "01:02:00:00:14:03:01")
        self.assertEqual(l["hostname"], "web1")
        self.assertEqual(l["domain"], "lab.example")

    def test_5_nak_says_why(self):
        """A NAK carries option 56 with the reason."""
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:05:01")
        g.dhcp()
        code = ("p = (Ether(src=%r, dst='ff:ff:ff:ff:ff:ff') /"
                " IP(src='0.0.0.0', dst='255.255.255.255') /"
                " UDP(sport=68, dport=67) /"
                " BOOTP(chaddr=bytes.fromhex(%r), xid=0x1405) /"
                " DHCP(options=[('message-type', 'request'),"
                " ('requested_addr', '10.0.2.15'), 'end']))\n"
                "conf.checkIPaddr = False\n"
                "r = srp1(p, timeout=5, filter='udp and port 68')\n"
                "print(dict(o for o in r[DHCP].options"
                " if isinstance(o, tuple)))\n"
                % (g.mac, g.mac.replace(":", "")))
        out = g.scapy(code).stdout
        self.assertIn("'message-type': 6", out)
        self.assertIn("'error_message': b'wrong subnet'", out)

    def test_6_decline_is_visible(self):
        """A DECLINE is logged, counted for the VM and its address shows
        as quarantined in softnetctl leases, with its end."""
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:06:01")
        ip = g.dhcp()["ip"]
        code = ("p = (Ether(src=%r, dst='ff:ff:ff:ff:ff:ff') /"
                " IP(src='0.0.0.0', dst='255.255.255.255') /"
                " UDP(sport=68, dport=67) /"
                " BOOTP(chaddr=bytes.fromhex(%r), xid=0x1406) /"
                " DHCP(options=[('message-type', 'decline'),"
                " ('requested_addr', %r), ('server_id', %r), 'end']))\n"
                "sendp(p)\n" % (g.mac, g.mac.replace(":", ""), ip, GATEWAY))
        g.scapy(code)
        wait_for(lambda: t.stats("vm1").get("dhcp_declines") == 1,
                 what="the decline counted")
        self.assertRegex(t.daemon.logtext(),
                         r"vm \d+ declined %s .*quarantined" % re.escape(ip))
        q = [l for l in t.daemon.ctl_json("leases")
             if l["state"] == "quarantined"]
        self.assertEqual(len(q), 1)
        self.assertEqual(q[0]["ip"], ip)
        self.assertEqual(q[0]["mac"], g.mac)
        self.assertGreater(q[0]["expires"], time.time() + 500)
        table = t.daemon.ctl("leases").stdout
        row = [l for l in table.splitlines() if "quarantined" in l]
        self.assertEqual(len(row), 1, table)
        self.assertTrue(row[0].startswith(ip), table)
        self.assertIn("1 declines", t.daemon.ctl("stats", "vm1").stdout)
        # The next lease is another address.
        self.assertNotEqual(g.dhcp()["ip"], ip)

    def test_7_malformed_option_ignored_and_counted(self):
        """A zero-length option 12 costs that option, not the DISCOVER."""
        t = Topology(self.env)
        g = t.guest("vm1", "02:00:00:14:07:01")
        code = ("p = (Ether(src=%r, dst='ff:ff:ff:ff:ff:ff') /"
                " IP(src='0.0.0.0', dst='255.255.255.255') /"
                " UDP(sport=68, dport=67) /"
                " BOOTP(chaddr=bytes.fromhex(%r), xid=0x1407) /"
                " DHCP(options=[('message-type', 'discover'),"
                " (12, b''), 'end']))\n"
                "conf.checkIPaddr = False\n"
                "r = srp1(p, timeout=5, filter='udp and port 68')\n"
                "print(r[BOOTP].yiaddr if r else None)\n"
                % (g.mac, g.mac.replace(":", "")))
        out = g.scapy(code).stdout.strip()
        self.assertTrue(out.startswith("192.168.105."), out)
        st = t.stats("vm1")
        self.assertEqual(st["dhcp_bad_options"], 1)
        self.assertEqual(st["drops"].get("dhcp_malformed", 0), 0)

    def test_8_options_the_mac_asks_for(self):
        """Broadcast (28), domain (15), search (119) and classless routes
        (121, router repeated as 0/0) reach udhcpc and dhclient."""
        t = Topology(self.env, {"dhcp": {
            "domain": "lab.example", "search": ["lab.example", "example"],
            "routes": [{"to": "10.20.0.0/16", "via": "192.168.105.254"}]}})
        g = t.guest("vm1", "02:00:00:14:08:01")
        script = self.env.path("udhcpc-env.sh")
        with open(script, "w") as f:
            f.write(UDHCPC_ENV_SCRIPT)
        os.chmod(script, 0o755)
        out = self.env.path("udhcpc-vm1.env")
        r = nsrun(g.ns, ["env", "LEASE_OUT=" + out, "busybox", "udhcpc",
                         "-f", "-q", "-n", "-t", "4", "-T", "1", "-A", "1",
                         "-i", "eth0", "-s", script, "-O", "broadcast",
                         "-O", "domain", "-O", "search",
                         "-O", "staticroutes"], check=False, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        env = read_env(out)
        self.assertEqual(env["broadcast"], "192.168.105.255")
        self.assertEqual(env["domain"], "lab.example")
        self.assertEqual(env["search"], "lab.example example")
        self.assertEqual(env["staticroutes"],
                         "10.20.0.0/16 192.168.105.254 0.0.0.0/0 " + GATEWAY)
        # Answered at once: udhcpc sent one DISCOVER and one REQUEST, no
        # retry (-T 1 would retry a second later), as its log shows.
        log = r.stdout + r.stderr
        self.assertEqual(log.count("discover"), 1, log)
        self.assertEqual(log.count("select for"), 1, log)
        # dhclient asks for 121 under its RFC 3442 name.
        conf = ("option rfc3442-classless-static-routes code 121 = "
                "array of unsigned integer 8;\n"
                "request subnet-mask, broadcast-address, routers, "
                "domain-name, domain-search, "
                "rfc3442-classless-static-routes;\n")
        g2 = t.guest("vm2", "02:00:00:14:08:02")
        env2, _ = self.dhclient(g2, conf=conf)
        self.assertEqual(env2["new_broadcast_address"], "192.168.105.255")
        self.assertEqual(env2["new_domain_name"], "lab.example")
        self.assertEqual(env2["new_domain_search"],
                         "lab.example. example.")
        self.assertEqual(env2["new_rfc3442_classless_static_routes"],
                         "16 10 20 192 168 105 254 0 192 168 105 1")

    def test_9_leases_columns_aligned(self):
        """A long hostname does not shift the columns after it."""
        t = Topology(self.env)
        g1 = t.guest("vm1", "02:00:00:14:09:01")
        g1.dhcp()
        # udhcpc sends the guest's name as its hostname (option 12).
        long = "a-very-long-guest-name-for-the-leases-table"
        g2 = t.guest(long, "02:00:00:14:09:02")
        g2.dhcp()
        lines = t.daemon.ctl("leases").stdout.splitlines()
        text = "\n".join(lines)
        self.assertEqual(len(lines), 3, text)
        for head in ("HOSTNAME", "STATE", "EXPIRES"):
            col = lines[0].index(head)
            for l in lines[1:]:
                self.assertEqual(l[col - 1], " ", text)
                self.assertNotEqual(l[col], " ", text)
        col = lines[0].index("HOSTNAME")
        self.assertTrue(lines[2][col:].startswith(long + " "), text)
