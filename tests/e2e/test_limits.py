"""Control-plane limits end to end: idle connections cannot lock others
out, the connection limit answers "busy" and keeps serving, a user's attach
limit stops only that user.
"""

import os
import socket
import time

from harness import E2E, Client, Daemon, run, wait_for, SOFTNETCTL


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
        # 2000 pings at 1000/s against a limit of 200 frames/s.
        noisy.run(["ping", "-n", "-q", "-i", "0.001", "-c", "2000", "-W", "1", EXT_IP],
                  check=False, timeout=60)
        drops = t.stats("noisy")["drops"]
        self.assertGreater(drops["rate_limit"], 500)
        # The limit is per VM: the quiet one is untouched.
        self.assertTrue(quiet.ping(EXT_IP, count=3))
        self.assertEqual(t.stats("quiet")["drops"]["rate_limit"], 0)
        # And the noisy one gets through again once it slows down.
        self.assertTrue(noisy.ping(EXT_IP, count=2))
