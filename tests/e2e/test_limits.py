"""Limits end to end: idle connections cannot lock others out, the
connection limit answers "busy" and keeps serving, a user's attach limit
stops only that user, per-VM rate limits, and a VM that stops reading is
dropped at the uplink (in the kernel) until it reads again.
"""

import json
import os
import signal
import socket
import time

from harness import E2E, Client, Daemon, run, skip_in_vmnet, wait_for, SOFTNETCTL


class LimitTest(E2E):
    def pair(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a

    def test_1000_idle_connections_do_not_stall_attach(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host).start()
        idle = []
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            idle.append(s)
        # Half of them even sent half a request.
        for s in idle[::2]:
            s.sendall(b'{"op":"li')
        c = Client(d.sock)
        r = c.call({"op": "attach", "mac": "02:00:00:00:0c:01"},
                   fd=self.pair().fileno())
        self.assertTrue(r["ok"], r)
        self.assertEqual(len(d.ctl_json("list")), 1)
        c.close()
        for s in idle:
            s.close()

    def test_connection_limit_answers_busy(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"max_connections": 8}).start()
        held = []
        while len(held) < 8:
            # The daemon may still be reaping the start-up probe
            # connections: a refused slot here is retried.
            c = Client(d.sock)
            try:
                if c.call({"op": "list"})["ok"]:
                    held.append(c)
                    continue
            except (BrokenPipeError, ConnectionResetError, EOFError):
                pass
            c.close()
            time.sleep(0.05)
        extra = Client(d.sock)
        self.assertEqual(extra.recv_line()["error"]["code"], "busy")
        self.assertTrue(extra.closed_by_peer())
        self.assertTrue(held[0].call({"op": "status"})["ok"])
        held.pop().close()
        wait_for(lambda: d.ctl("list", check=False).returncode == 0,
                 what="a free connection slot")
        for c in held:
            c.close()

    def test_per_user_attach_limit(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup",
                                    "max_vms_per_user": 2}).start()
        code = ("import socket,subprocess,sys\n"
                "rcs=[]\n"
                "for i in range(3):\n"
                " a,b=socket.socketpair(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
                " rcs.append(subprocess.run([%r,'-s',%r,'attach','--fd',"
                "str(a.fileno()),'--mac','02:00:00:00:0c:1%%d'%%i],"
                "pass_fds=[a.fileno()],capture_output=True,text=True))\n"
                "print([r.returncode for r in rcs]); print(rcs[2].stderr)\n"
                % (SOFTNETCTL, d.sock))
        r = run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                 "--clear-groups", "/usr/bin/python3", "-c", code])
        self.assertIn("[0, 0, 1]", r.stdout)
        self.assertIn("max_vms_per_user", r.stdout)
        # Root (an admin) is not bound by the per-user limit.
        c = Client(d.sock)
        for i in range(3):
            r = c.call({"op": "attach", "mac": "02:00:00:00:0c:2%d" % i},
                       fd=self.pair().fileno())
            self.assertTrue(r["ok"], r)
        c.close()
        self.assertEqual(len(d.ctl_json("list")), 5)


class RateLimitTest(E2E):
    def test_vm_limits_cap_a_flood_and_spare_others(self):
        from harness import EXT_IP, Topology
        t = Topology(self.env, {"vm_limits": {"tx_frames_per_sec": 200,
                                              "rx_frames_per_sec": 0,
                                              "rx_bytes_per_sec": 0}})
        noisy = t.guest("noisy", "02:00:00:00:0d:01")
        quiet = t.guest("quiet", "02:00:00:00:0d:02")
        noisy.dhcp()
        quiet.dhcp()
        # 2000 datagrams at 1000/s against a limit of 200 frames/s: the
        # bucket lets 200/s of the run's real duration through (plus its
        # 64-frame burst and the odd ARP frame). softnetd does not read
        # the excess (issue 18): it waits in the guest's TAP queue, whose
        # kernel drops what does not fit; what softnetd read past the
        # limit (none) would count as rate_limit.
        from harness import UDPFLOOD
        t0 = time.monotonic()
        r = noisy.run([UDPFLOOD, "-l", "64", "-t", "2", "-r", "1000",
                       noisy.ip, EXT_IP, "9"], check=False, timeout=60)
        elapsed = time.monotonic() - t0
        sent = int(r.stdout.split()[-1])
        st = t.stats("noisy")
        allowed = 200 * elapsed + 64 + 20
        self.assertLess(elapsed, 9, "flood too slow to test a limit")
        self.assertGreater(sent, 1000)
        self.assertLessEqual(st["tx_frames"] - st["drops"]["rate_limit"],
                             allowed, "%.1f s run" % elapsed)
        self.assertGreater(st["read_pauses"], 0)
        # The limit is per VM: the quiet one is untouched.
        self.assertTrue(quiet.ping(EXT_IP, count=3))
        q = t.stats("quiet")
        self.assertEqual(q["drops"]["rate_limit"], 0)
        self.assertEqual(q["read_pauses"], 0)
        # And the noisy one gets through again once it slows down (after
        # its own queue of stale requests drains at 200/s).
        wait_for(lambda: noisy.ping(EXT_IP, count=1, wait=1), timeout=20,
                 what="the noisy VM to get through again")


@skip_in_vmnet("no uplink block (uplink_block is ENOTSUP): "
               "test_vmnet.HungVmTest checks that the switch drops instead")
class HungVmTest(E2E):
    def test_hung_vm_is_dropped_at_the_uplink_until_it_reads(self):
        from harness import (BUILD, EXT_IP, Guest, Topology, nsrun,
                             socketpair_vm)
        t = Topology(self.env)
        quiet = t.guest("quiet", "02:00:00:00:0e:01")
        quiet.dhcp()
        stuck = Guest(self.env, "stuck", "02:00:00:00:0e:02")
        fd, bridge = socketpair_vm(self.env, stuck)
        cl = Client(t.daemon.sock)
        self.addCleanup(cl.close)
        r = cl.call({"op": "attach", "mac": stuck.mac, "name": "stuck"},
                    fd=fd.fileno())
        fd.close()
        self.assertTrue(r.get("ok"), r)
        ip = stuck.dhcp()["ip"]
        self.assertTrue(nsrun(t.host, ["ping", "-c", "1", "-W", "2", ip],
                              check=False).returncode == 0)

        def tx_dropped():
            out = nsrun(t.host, ["ip", "-j", "-s", "link", "show", "softnet0"])
            return json.loads(out.stdout)[0]["stats64"]["tx"]["dropped"]

        base = tx_dropped()
        # The VM stops reading; ext keeps sending to it.
        os.kill(bridge.pid, signal.SIGSTOP)
        flood = self.env.popen([os.path.join(BUILD, "tests", "tools",
                                             "udpflood"),
                                "-r", "20000", "-l", "200", "-t", "30",
                                EXT_IP, ip, "9"], ns=t.ext)
        wait_for(lambda: t.stats("stuck")["hung"], timeout=15,
                 what="the stuck VM to count as hung")
        st = t.daemon.ctl_json("status")["counters"]
        self.assertEqual(st["hung_vms"], 1)
        self.assertEqual(st["hung_blocks"], 1)
        self.assertEqual(t.stats("stuck")["backlog"], 256)
        # From now on the kernel drops its frames; the daemon sees none.
        seen = t.stats("stuck")["drops"]["queue_full"]
        time.sleep(1)
        self.assertGreater(tx_dropped() - base, 5000)
        self.assertLess(t.stats("stuck")["drops"]["queue_full"] - seen, 100)
        # Others are untouched.
        self.assertTrue(quiet.ping(EXT_IP, count=3))
        # It reads again: the backlog goes out, the block is lifted.
        os.kill(bridge.pid, signal.SIGCONT)
        wait_for(lambda: not t.stats("stuck")["hung"], timeout=10,
                 what="the block to be lifted")
        flood.kill()
        flood.wait()
        self.assertEqual(
            t.daemon.ctl_json("status")["counters"]["hung_vms"], 0)
        self.assertTrue(stuck.ping(EXT_IP, count=2))
        # Hung again, then detached: the block goes with it.
        os.kill(bridge.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, bridge.pid, signal.SIGCONT)
        flood = self.env.popen([os.path.join(BUILD, "tests", "tools",
                                             "udpflood"),
                                "-r", "20000", "-l", "200", "-t", "30",
                                EXT_IP, ip, "9"], ns=t.ext)
        self.addCleanup(flood.kill)

        def counters():
            return t.daemon.ctl_json("status")["counters"]

        wait_for(lambda: counters()["hung_vms"] == 1, timeout=15,
                 what="the stuck VM to hang again")
        self.assertEqual(counters()["hung_blocks"], 2)
        r = cl.call({"op": "detach", "vm": "stuck"})
        self.assertTrue(r.get("ok"), r)
        self.assertEqual(counters()["hung_vms"], 0)
        self.assertTrue(quiet.ping(EXT_IP, count=2))
