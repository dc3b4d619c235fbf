"""Control plane end to end: the real softnetd, softnetctl and raw clients.

Each test builds its own host namespace (the daemon creates its TAP uplink
there) and removes everything afterwards.
"""

import json
import os
import signal
import socket
import subprocess
import time

from harness import (E2E, Client, Daemon, Guest, SOFTNETD, SOFTNETCTL, run,
                     nsrun, wait_for)


def dgram_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    return a, b


class ControlTest(E2E):
    def setUp(self):
        super().setUp()
        self.host = self.env.netns("host")
        self.d = Daemon(self.env, self.host,
                        {"socket_group": "nogroup", "max_vms": 4}).start()
        self.pairs = []

    def tearDown(self):
        for a, b in self.pairs:
            a.close()
            b.close()

    def pair(self):
        p = dgram_pair()
        self.pairs.append(p)
        return p

    def client(self):
        c = Client(self.d.sock)
        self.addCleanup(c.close)
        return c

    def attach_pair(self, c, mac, **kw):
        a, b = self.pair()
        req = {"op": "attach", "mac": mac}
        req.update(kw)
        r = c.call(req, fd=a.fileno())
        a.close()  # the daemon holds the VM's end now
        return r, b

    # --- attach / list / show / detach -----------------------------------

    def test_socketpair_attach_list_show_detach(self):
        c = self.client()
        r = c.call({"op": "hello", "version": 1, "id": 7})
        self.assertTrue(r["ok"])
        self.assertEqual(r["id"], 7)
        self.assertEqual(r["version"], 1)
        r, _ = self.attach_pair(c, "02:00:00:00:00:01", name="vm1",
                                allow=["10.0.0.0/8"], block=["@host"])
        self.assertTrue(r["ok"], r)
        vm = r["vm"]
        self.assertEqual(vm["name"], "vm1")
        self.assertEqual(vm["mac"], "02:00:00:00:00:01")
        self.assertIsNone(vm["ip"])
        self.assertEqual(vm["owner"], 0)
        self.assertEqual(vm["kind"], "dgram")

        lst = self.d.ctl_json("list")
        self.assertEqual([v["name"] for v in lst], ["vm1"])
        for key in ("id", "name", "mac", "ip", "owner", "state"):
            self.assertIn(key, lst[0])
        table = self.d.ctl("list").stdout
        self.assertIn("ID", table.splitlines()[0])
        self.assertIn("02:00:00:00:00:01", table)

        shown = self.d.ctl_json("show", "vm1")
        self.assertEqual(shown["policy"]["allow"], ["10.0.0.0/8"])
        self.assertEqual(shown["policy"]["block"], ["@host"])
        # By MAC and by id too.
        self.assertEqual(self.d.ctl_json("show", "02:00:00:00:00:01")["id"],
                         vm["id"])
        self.assertEqual(self.d.ctl_json("show", str(vm["id"]))["name"], "vm1")
        self.assertIn("allow:", self.d.ctl("show", "vm1").stdout)

        self.d.ctl("detach", "vm1")
        self.assertEqual(self.d.ctl_json("list"), [])
        r = self.d.ctl("show", "vm1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no VM vm1", r.stderr)

    def test_softnetctl_attach_fd_stays_after_exit(self):
        a, b = self.pair()
        r = run([SOFTNETCTL, "-s", self.d.sock, "attach", "--fd",
                 str(a.fileno()), "--mac", "02:00:00:00:00:05", "--name",
                 "fdvm"], pass_fds=[a.fileno()], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("attached vm", r.stdout)
        # Not a session: still attached after softnetctl exited.
        self.assertEqual([v["name"] for v in self.d.ctl_json("list")],
                         ["fdvm"])

    def test_tap_attach_reads_mac_from_device(self):
        g = Guest(self.env, "g1", "02:00:00:00:00:11")
        r = g.attach(self.d)
        self.assertIn("attached", r.stdout)
        vm = self.d.ctl_json("show", "g1")
        self.assertEqual(vm["mac"], "02:00:00:00:00:11")
        self.assertEqual(vm["kind"], "tap")
        # Wrong explicit MAC for a TAP is refused.
        g2 = Guest(self.env, "g2", "02:00:00:00:00:12")
        r = g2.attach(self.d, "--mac", "02:00:00:00:00:99", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad_mac", r.stderr)
        self.d.ctl("detach", "g1")
        self.assertEqual(self.d.ctl_json("list"), [])

    def test_session_attachment_ends_with_client(self):
        c = self.client()
        r, _ = self.attach_pair(c, "02:00:00:00:00:21", name="sess",
                                session=True)
        self.assertTrue(r["ok"], r)
        self.assertEqual(len(self.d.ctl_json("list")), 1)
        c.close()
        wait_for(lambda: self.d.ctl_json("list") == [],
                 what="session VM to be detached")

    def test_softnet_front_end_session(self):
        a, b = self.pair()
        p = self.env.popen([os.path.join(os.path.dirname(SOFTNETCTL),
                                         "softnet"), "--vm-fd",
                            str(a.fileno()), "--vm-mac-address",
                            "02:00:00:00:00:31"],
                           env=dict(os.environ, SOFTNET_SOCKET=self.d.sock),
                           pass_fds=[a.fileno()])
        wait_for(lambda: len(self.d.ctl_json("list")) == 1,
                 what="softnet to attach")
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)
        wait_for(lambda: self.d.ctl_json("list") == [],
                 what="softnet's VM to be detached")

    # --- rejections -------------------------------------------------------

    def test_rejections_change_nothing(self):
        c = self.client()
        a, b = self.pair()
        cases = [
            ({"op": "attach", "mac": "02:00:00:00:00:41"}, None, "no_fd"),
            ({"op": "list"}, a.fileno(), "unexpected_fd"),
            ({"op": "attach", "mac": "01:00:5e:00:00:01"}, "pair",
             "bad_mac"),
            ({"op": "attach", "mac": "00:00:00:00:00:00"}, "pair",
             "bad_mac"),
            ({"op": "attach", "mac": "zz:00:00:00:00:01"}, "pair",
             "bad_mac"),
            ({"op": "attach"}, "pair", "bad_mac"),
            ({"op": "attach", "mac": "02:00:00:00:00:42",
              "allow": ["10.0.0.0/33"]}, "pair", "bad_policy"),
            ({"op": "attach", "mac": "02:00:00:00:00:42",
              "block": ["10.0.0.1/8"]}, "pair", "bad_policy"),
            ({"op": "attach", "mac": "02:00:00:00:00:42",
              "expose": ["80"]}, "pair", "bad_policy"),
            ({"op": "attach", "mac": "02:00:00:00:00:42",
              "name": "bad name!"}, "pair", "bad_name"),
            ({"op": "attach", "mac": "02:00:00:00:00:42", "bogus": 1},
             "pair", "bad_request"),
            ({"op": "frobnicate"}, None, "unknown_op"),
            ({"op": "detach", "vm": "nope"}, None, "not_found"),
            ({"op": "hello", "version": 0}, None, "version_mismatch"),
        ]
        for req, fd, code in cases:
            if fd == "pair":
                x, _ = self.pair()
                fd = x.fileno()
            r = c.call(req, fd=fd)
            self.assertFalse(r["ok"], req)
            self.assertEqual(r["error"]["code"], code, (req, r))
            self.assertTrue(r["error"]["message"])
        # fds of the wrong kind: a regular file, a pipe, a stream socket.
        with open(self.env.path("plain"), "w") as f:
            r = c.call({"op": "attach", "mac": "02:00:00:00:00:43"},
                       fd=f.fileno())
            self.assertEqual(r["error"]["code"], "bad_fd")
        rp, wp = os.pipe()
        r = c.call({"op": "attach", "mac": "02:00:00:00:00:43"}, fd=rp)
        self.assertEqual(r["error"]["code"], "bad_fd")
        os.close(rp)
        os.close(wp)
        s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        r = c.call({"op": "attach", "mac": "02:00:00:00:00:43"},
                   fd=s1.fileno())
        self.assertEqual(r["error"]["code"], "bad_fd")
        s1.close()
        s2.close()
        self.assertEqual(self.d.ctl_json("list"), [])

        # Duplicates and the VM limit (max_vms 4 in this daemon).
        r, _ = self.attach_pair(c, "02:00:00:00:00:51", name="one")
        self.assertTrue(r["ok"])
        r, _ = self.attach_pair(c, "02:00:00:00:00:51", name="two")
        self.assertEqual(r["error"]["code"], "mac_in_use")
        r, _ = self.attach_pair(c, "02:00:00:00:00:52", name="one")
        self.assertEqual(r["error"]["code"], "name_in_use")
        for i in range(3):
            r, _ = self.attach_pair(c, "02:00:00:00:00:6%d" % i)
            self.assertTrue(r["ok"], r)
        r, _ = self.attach_pair(c, "02:00:00:00:00:70")
        self.assertEqual(r["error"]["code"], "too_many_vms")
        self.assertEqual(len(self.d.ctl_json("list")), 4)
        # The refused descriptors were closed by the daemon: only this
        # test holds them. A daemon that leaked them would still hold fds.
        daemon_pid = int(run(["pgrep", "-n", "-x", "softnetd"]).stdout)
        nfds = len(os.listdir("/proc/%d/fd" % daemon_pid))
        self.assertLess(nfds, 4 + 16)

    def test_nobody_cannot_touch_roots_vm(self):
        c = self.client()
        r, _ = self.attach_pair(c, "02:00:00:00:00:81", name="rootvm")
        self.assertTrue(r["ok"])
        r = self.d.ctl("detach", "rootvm", user="nobody", check=False)
        self.assertEqual(r.returncode, 1)
        # As if it did not exist (issue #13 item 4).
        self.assertIn("no VM rootvm attached (not_found)", r.stderr)
        r = self.d.ctl("show", "rootvm", user="nobody", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.d.ctl_json("list", user="nobody"), [])
        self.assertEqual(len(self.d.ctl_json("list")), 1)
        # nobody attaches its own VM and may detach it; root sees both.
        code = ("import socket,subprocess,sys\n"
                "a,b=socket.socketpair(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
                "sys.exit(subprocess.run([%r,'-s',%r,'attach','--fd',"
                "str(a.fileno()),'--mac','02:00:00:00:00:82','--name',"
                "'nobodyvm'],pass_fds=[a.fileno()]).returncode)\n"
                % (SOFTNETCTL, self.d.sock))
        r = run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                 "--clear-groups", "/usr/bin/python3", "-c", code],
                check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = self.d.ctl_json("list", user="nobody")
        self.assertEqual([v["name"] for v in mine], ["nobodyvm"])
        self.assertEqual(mine[0]["owner"], 65534)
        self.assertEqual(len(self.d.ctl_json("list")), 2)
        self.d.ctl("detach", "nobodyvm", user="nobody")
        self.assertEqual([v["name"] for v in self.d.ctl_json("list")],
                         ["rootvm"])

    # --- hostile input ----------------------------------------------------

    def test_garbage_does_not_disturb_others(self):
        good = self.client()
        r, _ = self.attach_pair(good, "02:00:00:00:00:91", name="keep")
        self.assertTrue(r["ok"])

        bad = self.client()
        self.assertEqual(bad.call({"op": 1})["error"]["code"],
                         "bad_request")
        bad.send_raw(b"{not json\n")
        self.assertEqual(bad.recv_line()["error"]["code"], "bad_json")
        bad.send_raw(b"[1,2,3]\n")
        self.assertEqual(bad.recv_line()["error"]["code"], "bad_json")
        bad.send_raw(b"\x00\xff\xfe binary \x01\x02\n")
        self.assertEqual(bad.recv_line()["error"]["code"], "bad_json")
        # Still usable after bad lines.
        self.assertTrue(bad.call({"op": "list"})["ok"])

        huge = self.client()
        huge.send_raw(b"{\"op\":\"list\",\"x\":\"" + b"A" * 70000)
        self.assertEqual(huge.recv_line()["error"]["code"], "line_too_long")
        self.assertTrue(huge.closed_by_peer())

        junk = self.client()
        # The daemon answers and closes after 64 KiB: the rest of the
        # 200 KB may meet a closed socket (EPIPE), the answer is still
        # there to read.
        try:
            junk.send_raw(os.urandom(200000).replace(b"\n", b"x"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(junk.recv_line()["error"]["code"], "line_too_long")
        self.assertTrue(junk.closed_by_peer())

        # Two fds on one line is a framing error.
        two = self.client()
        a1, _ = self.pair()
        a2, _ = self.pair()
        two.send_raw(b'{"op":"attach","mac":"02:00:00:00:00:92"}\n',
                     [a1.fileno(), a2.fileno()])
        self.assertEqual(two.recv_line()["error"]["code"], "bad_request")
        self.assertTrue(two.closed_by_peer())

        # Abrupt disconnect mid-line.
        cut = self.client()
        cut.send_raw(b'{"op":"li')
        cut.close()

        self.assertTrue(good.call({"op": "list"})["ok"])
        self.assertEqual([v["name"] for v in self.d.ctl_json("list")],
                         ["keep"])
        self.assertTrue(self.d.answers())

    def test_pipelined_requests_and_fd_belongs_to_its_line(self):
        c = self.client()
        a, _ = self.pair()
        # Three requests in one write, then an attach with its fd.
        c.send_raw(b'{"op":"list","id":1}\n{"op":"status","id":2}\n'
                   b'{"op":"hello","version":99,"id":3}\n')
        c.send_raw(b'{"op":"attach","mac":"02:00:00:00:00:a1","id":4}\n',
                   [a.fileno()])
        ids = [c.recv_line() for _ in range(4)]
        self.assertEqual([r["id"] for r in ids], [1, 2, 3, 4])
        self.assertTrue(all(r["ok"] for r in ids), ids)
        self.assertEqual(ids[2]["version"], 1)

    # --- daemon lifecycle -------------------------------------------------

    def test_second_daemon_on_same_socket_exits(self):
        host2 = self.env.netns("host2")
        r = nsrun(host2, [SOFTNETD, "-f", self.d.conf], check=False,
                  timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already listening", r.stderr)
        self.assertTrue(self.d.answers())

    def test_stale_socket_replaced(self):
        self.d.stop(signal.SIGKILL)
        self.assertTrue(os.path.exists(self.d.sock))
        self.d.start()
        self.assertTrue(self.d.ctl_json("list") == [])

    def test_sigterm_cleans_up(self):
        c = self.client()
        r, b = self.attach_pair(c, "02:00:00:00:00:b1", name="t")
        self.assertTrue(r["ok"])
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(self.d.sock))
        # The daemon closed its end of the VM's socket pair.
        with self.assertRaises(OSError):
            for _ in range(3):
                b.send(b"x" * 60)
                time.sleep(0.05)
        # The uplink TAP went away with it.
        r = nsrun(self.host, ["ip", "link", "show", "softnet0"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("shutting down", self.d.logtext())

    def test_config_check(self):
        r = run([SOFTNETD, "-n", "-f", self.d.conf], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        bad = self.env.path("bad.json")
        with open(bad, "w") as f:
            json.dump({"uplink": {"mtu": "big"}}, f)
        r = run([SOFTNETD, "-n", "-f", bad], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("uplink.mtu", r.stderr)
        self.assertIn(bad, r.stderr)
        with open(bad, "w") as f:
            json.dump({"uplnk": {}}, f)
        r = run([SOFTNETD, "-n", "-f", bad], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("uplnk", r.stderr)

    def test_cli_usage_and_help(self):
        r = run([SOFTNETCTL, "--help"], check=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn("attach", r.stdout)
        for cmd in ("attach", "detach", "list", "show", "status", "stats",
                    "leases"):
            r = run([SOFTNETCTL, cmd, "--help"], check=False)
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: softnetctl", r.stdout)
        self.assertEqual(run([SOFTNETCTL], check=False).returncode, 2)
        self.assertEqual(run([SOFTNETCTL, "nope"], check=False).returncode, 2)
        self.assertEqual(run([SOFTNETCTL, "-s", self.d.sock, "attach"],
                             check=False).returncode, 2)
        self.assertEqual(run([SOFTNETCTL, "-s", self.d.sock, "detach"],
                             check=False).returncode, 2)
        r = run([SOFTNETCTL, "-s", "/nonexistent.sock", "list"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach softnetd", r.stderr)
        st = self.d.ctl_json("status")
        self.assertEqual(st["uplink"]["gateway"], "192.168.105.1")
        self.assertIn("softnetd", self.d.ctl("status").stdout)


class PathSafetyTest(E2E):
    def test_symlinks_in_place_of_socket_or_database_are_refused(self):
        host = self.env.netns("host")
        target = self.env.path("elsewhere")
        open(target, "w").close()
        d = Daemon(self.env, host)
        os.symlink(target, d.db)
        d.start(wait=False)
        self.assertEqual(d.proc.wait(timeout=10), 1)
        self.assertIn("symbolic link", d.logtext())
        d.proc = None
        d.logf.close()
        self.assertEqual(os.path.getsize(target), 0)  # untouched
        os.unlink(d.db)
        os.symlink(target, d.sock)
        d.start(wait=False)
        self.assertEqual(d.proc.wait(timeout=10), 1)
        self.assertIn("not a socket", d.logtext())
        d.proc = None
        d.logf.close()
        self.assertTrue(os.path.islink(d.sock))  # not replaced
        # The socket file is the configured group's, mode 0660.
        os.unlink(d.sock)
        d.start()
        st = os.stat(d.sock)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual(st.st_uid, 0)
