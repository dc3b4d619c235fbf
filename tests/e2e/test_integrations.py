"""Integrations end to end: the softnet front end Tart runs, softnetctl
exec for QEMU/vfkit, live policy changes, and service-manager plumbing
(systemd socket activation, the launchd plist, make install).

A "VM" here is a guest kernel whose eth0 is a TAP bridged by tapbridge to
one end of a SOCK_DGRAM socket pair: the same descriptor shape Tart and
QEMU hand over.
"""

import json
import os
import signal
import socket
import subprocess
import time

from harness import (BUILD, E2E, EXT_IP, GATEWAY, ROOT, SOFTNET, SOFTNETCTL,
                     SOFTNETD, Client, Daemon, Guest, Topology, echo_server,
                     nsrun, run, socketpair_vm, start_bridged, wait_for)

SUBNET = "192.168.105.0/24"


class SoftnetFrontEndTest(E2E):
    def softnet(self, t, guest, *args, user=None):
        fd, bridge = socketpair_vm(self.env, guest)
        cmd = [SOFTNET, "--vm-fd", str(fd.fileno()), "--vm-mac-address",
               guest.mac] + list(args)
        if user:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                   "--clear-groups"] + cmd
        p = self.env.popen(cmd, env=dict(os.environ,
                                         SOFTNET_SOCKET=t.daemon.sock),
                           pass_fds=[fd.fileno()], text=True)
        fd.close()
        return p

    def test_tart_shape_survives_daemon_kill(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        echo = t.ext_echo(7)
        g = Guest(self.env, "tart1", "02:00:00:00:07:01")
        # Unprivileged, as Tart runs it; legacy flags are accepted.
        p = self.softnet(t, g, "--vm-net-type", "nat", "--user", "nobody",
                         "--bootpd-lease-time", "600", user="nobody")
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 1,
                 what="softnet to attach")
        vm = t.daemon.ctl_json("list")[0]
        self.assertEqual(vm["owner"], 65534)
        self.assertTrue(vm["session"])
        ip = g.dhcp()["ip"]
        self.assertTrue(g.ping(EXT_IP))
        ping = self.env.popen(["ping", "-n", "-i", "0.05", EXT_IP],
                              ns=g.ns, text=True)
        time.sleep(0.5)
        t.daemon.stop(signal.SIGKILL)
        time.sleep(0.5)
        t.daemon.start()
        # softnet's retry backoff is capped at 1 s (tests/test_client.c
        # test_backoff_schedule); 10 s is a bound for a hung test.
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 1, timeout=10,
                 step=0.02, what="softnet to re-attach")
        vm = t.daemon.ctl_json("list")[0]
        self.assertEqual(vm["ip"], ip)  # the lease came back with the MAC
        self.assertTrue(g.ping(EXT_IP, count=2))
        self.assertEqual(g.tcp(EXT_IP, 7, "after restart"), "after restart")
        ping.terminate()
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)
        wait_for(lambda: t.daemon.ctl_json("list") == [],
                 what="the VM to be detached")
        self.assertIn("note: --user is not needed", p.stderr.read())
        echo.kill()

    def test_host_net_type_reaches_only_the_host(self):
        t = Topology(self.env)
        g = Guest(self.env, "tart2", "02:00:00:00:07:02")
        p = self.softnet(t, g, "--vm-net-type", "host")
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 1,
                 what="softnet to attach")
        g.dhcp()
        self.assertTrue(g.ping(GATEWAY))
        self.assertFalse(g.ping(EXT_IP, count=2))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_failures_are_one_clear_line(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host).start()
        env = dict(os.environ, SOFTNET_SOCKET=d.sock)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        r = run([SOFTNET, "--vm-fd", str(a.fileno()), "--vm-mac-address",
                 "ff:ff:ff:ff:ff:ff"], env=env, pass_fds=[a.fileno()],
                check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("bad_mac", r.stderr)
        # --wait 0: one attempt (test_suid covers the default wait).
        r = run([SOFTNET, "--vm-fd", str(a.fileno()), "--vm-mac-address",
                 "02:00:00:00:07:09", "--wait", "0"], pass_fds=[a.fileno()],
                check=False,
                env=dict(os.environ, SOFTNET_SOCKET="/nonexistent.sock"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach softnetd", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        for args in (["--help"], ["--sudo-escalation-probing"]):
            self.assertEqual(run([SOFTNET] + args, check=False).returncode,
                             0, args)
        self.assertEqual(run([SOFTNET], check=False).returncode, 2)
        self.assertEqual(run([SOFTNET, "--vm-fd", "0", "--vm-mac-address",
                              "02:00:00:00:07:09", "--vm-net-type", "bridged"],
                             check=False).returncode, 2)
        a.close()
        b.close()


class ExecTest(E2E):
    def test_exec_bridges_a_guest_and_forwards_signals(self):
        t = Topology(self.env)
        g = Guest(self.env, "qemu1", "02:00:00:00:08:01")
        p = start_bridged(self.env, g, [SOFTNETCTL, "-s", t.daemon.sock,
                                        "exec", "--mac", g.mac, "--name",
                                        "qemu1", "--"])
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 1,
                 what="exec to attach")
        self.assertTrue(g.dhcp()["ip"].startswith("192.168.105."))
        self.assertTrue(g.ping(EXT_IP))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 128 + signal.SIGTERM)
        wait_for(lambda: t.daemon.ctl_json("list") == [],
                 what="exec's VM to be detached")

    def test_exec_environment_and_exit_status(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host).start()
        r = run([SOFTNETCTL, "-s", d.sock, "exec", "--", "sh", "-c",
                 'test "$SOFTNET_FD" = 3 && test -S /proc/self/fd/3 && '
                 'echo "$SOFTNET_MAC" && exit 7'], check=False)
        self.assertEqual(r.returncode, 7, r.stderr)
        mac = r.stdout.strip()
        self.assertRegex(mac, r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
        self.assertEqual(int(mac[:2], 16) & 3, 2)  # local, unicast
        self.assertEqual(d.ctl_json("list"), [])
        r = run([SOFTNETCTL, "-s", d.sock, "exec", "--mac", "02:00:00:00:08:02",
                 "--", "/nonexistent-binary"], check=False)
        self.assertEqual(r.returncode, 127)
        self.assertEqual(run([SOFTNETCTL, "-s", d.sock, "exec", "true"],
                             check=False).returncode, 2)


class LivePolicyTest(E2E):
    def test_policy_set_takes_effect_at_once(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        g1 = t.guest("vm1", "02:00:00:00:09:01")
        g2 = t.guest("vm2", "02:00:00:00:09:02")
        g1.dhcp()
        g2.dhcp()
        echo_server(self.env, g2.ns, 7)
        self.assertFalse(g1.ping(g2.ip, count=1))
        pol = t.daemon.ctl_json("policy", "show", "vm1")
        self.assertEqual(pol["revision"], 1)
        for vm in ("vm1", "vm2"):
            pol = t.daemon.ctl_json("policy", "set", vm, "--allow", SUBNET)
            self.assertEqual(pol["allow"], [SUBNET])
            self.assertEqual(pol["revision"], 2)
        self.assertTrue(g1.ping(g2.ip, count=2))
        self.assertEqual(g1.tcp(g2.ip, 7, "allowed now"), "allowed now")
        # Revoke: the very next frames are dropped.
        t.daemon.ctl("policy", "set", "vm1", "--block", EXT_IP + "/32")
        self.assertFalse(g1.ping(g2.ip, count=1))
        self.assertFalse(g1.ping(EXT_IP, count=1))
        self.assertIn("revision  3", t.daemon.ctl("policy", "show",
                                                  "vm1").stdout)
        # A bad entry changes nothing; a stale revision is a conflict.
        r = t.daemon.ctl("policy", "set", "vm1", "--allow", "10.0.0.0/99",
                         check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(t.daemon.ctl_json("policy", "show",
                                           "vm1")["revision"], 3)
        c = Client(t.daemon.sock)
        r = c.call({"op": "policy.set", "vm": "vm1", "allow": [],
                    "revision": 2})
        self.assertEqual(r["error"]["code"], "conflict")
        c.close()
        r = t.daemon.ctl("policy", "set", "vm1", user="nobody", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not_found", r.stderr)


class ServiceTest(E2E):
    def test_systemd_socket_activation(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host)
        p = self.env.popen(["systemd-socket-activate", "-l", d.sock,
                            SOFTNETD, "-f", d.conf], ns=host, text=True)
        wait_for(d.answers, what="the activation socket")
        # The first connection starts softnetd, which takes the socket.
        self.assertEqual(d.ctl_json("list"), [])
        wait_for(lambda: "passed by the service manager" in p.stderr.readline(),
                 what="softnetd to use the passed socket")
        self.assertEqual(d.ctl_json("status")["socket"], d.sock)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)

    def activated_log(self, config):
        """Starts softnetd on a socket systemd-socket-activate made (group
        root) with config; returns its log once it took the socket."""
        self.nact = getattr(self, "nact", 0) + 1
        name = "act%d" % self.nact
        host = self.env.netns(name)
        d = Daemon(self.env, host, config, name=name)
        log = self.env.path(name + ".log.l")
        p = self.env.popen(["systemd-socket-activate", "-l", d.sock,
                            SOFTNETD, "-f", d.conf, "-l", log], ns=host)
        wait_for(d.answers, what="the activation socket")
        self.assertEqual(d.ctl_json("list"), [])
        with open(log) as f:
            text = f.read()
        self.assertIn("passed by the service manager", text)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        return text

    def test_activated_socket_group_mismatch_is_reported(self):
        # The service manager's group wins; the configuration's differs:
        # one warning naming the socket and both groups.
        text = self.activated_log({"socket_group": "nogroup"})
        warn = [l for l in text.splitlines() if "socket_group" in l]
        self.assertEqual(len(warn), 1, text)
        self.assertIn("has group root (0)", warn[0])
        self.assertIn("socket_group is nogroup", warn[0])
        self.assertIn("SocketGroup=", warn[0])
        # Agreeing, or not named in the file at all: nothing to say.
        self.assertNotIn("socket_group",
                         self.activated_log({"socket_group": "root"}))
        self.assertNotIn("socket_group", self.activated_log({}))

    # The launchd plist and make install: test_install.py.


class PrivilegeTest(E2E):
    def test_runs_unprivileged_after_setup(self):
        t = Topology(self.env, {"user": "nobody"})
        pid = int(run(["pgrep", "-n", "-x", "softnetd"]).stdout)
        with open("/proc/%d/status" % pid) as f:
            status = dict(l.split(":", 1) for l in f.read().splitlines())
        self.assertEqual(status["Uid"].split()[:3], ["65534"] * 3)
        self.assertEqual(status["Gid"].split()[:3], ["65534"] * 3)
        self.assertEqual(int(status["CapEff"], 16), 1 << 10)  # bind <1024
        self.assertEqual(int(status["CapPrm"], 16), 1 << 10)
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        self.assertIn("running as nobody", t.daemon.logtext())
        # Still does its whole job: attach, DHCP (lease DB writes), traffic
        # and a privileged --expose port.
        g = t.guest("vm1", "02:00:00:00:0b:01", opts=("--expose", "80:7"))
        ip = g.dhcp()["ip"]
        self.assertTrue(g.ping(EXT_IP))
        echo_server(self.env, g.ns, 7)
        self.assertTrue(g.ping(GATEWAY))
        out = nsrun(t.host, ["/usr/bin/python3", "-c",
                             "import socket;s=socket.create_connection(("
                             "'127.0.0.1',80),timeout=3);s.sendall(b'p80');"
                             "s.shutdown(1);print(s.recv(9).decode())"])
        self.assertEqual(out.stdout.strip(), "p80")
        self.assertEqual(t.daemon.stop(signal.SIGTERM), 0)
        # The next start (as root again, then dropping) keeps the lease.
        t.daemon.start()
        g.attach(t.daemon)
        self.assertEqual(t.daemon.ctl_json("show", "vm1")["ip"], ip)

    def test_unknown_user_refused(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"user": "no-such-user-here"})
        d.start(wait=False)
        self.assertEqual(d.proc.wait(timeout=10), 1)
        self.assertIn("no-such-user-here", d.logtext())
        d.proc = None
        d.logf.close()
