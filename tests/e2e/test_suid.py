"""softnet installed the way Tart wants it (root-owned, set-user-ID) and
softnet's --wait, end to end.

Tart (Sources/tart/Network/Softnet.swift, configureSUIDBitIfNeeded) makes
the softnet on PATH root-owned with the set-user-ID bit. These tests make
such copies of the build's binaries in the test's own directory and run
them as nobody:nogroup with no supplementary groups:

- a set-user-ID (or set-group-ID) softnetctl refuses to run at all, so
  `softnetctl exec` can never hand anyone a root shell;
- a set-user-ID softnet runs entirely as its caller: every uid and gid the
  kernel shows is the caller's, and softnetd records the caller as the
  VM's owner;
- softnet waits up to --wait seconds for a daemon that is not there yet or
  is restarting, then gives up with one line and exit status 1.
"""

import os
import re
import shutil
import signal
import socket
import time

from harness import (BUILD, E2E, no_leak_check_env, ROOT, SOFTNET, SOFTNETCTL, Daemon, run,
                     wait_for)

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
MAC = "02:00:00:00:0b:01"


def without_sanitizer_lines(err):
    """stderr less a sanitizer's own lines: a set-group-ID copy of a
    sanitized binary (make sanitize) cannot read its environment
    (/proc/self/environ belongs to root once the process is not dumpable),
    so ASAN_OPTIONS cannot turn off LeakSanitizer there, which then says it
    cannot run; the program's own words are what is tested."""
    return "\n".join(l for l in err.strip().splitlines()
                     if not re.match(r"==\d+==", l))


def status_ids(pid):
    """The Uid/Gid (real, effective, saved, fs) and Groups of a process."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f.read().splitlines())
    return st["Uid"].split(), st["Gid"].split(), st["Groups"].split()


class SuidTest(E2E):
    def setUp(self):
        super().setUp()
        if os.statvfs(self.env.tmp).f_flag & os.ST_NOSUID:
            self.skipTest("%s is mounted nosuid" % self.env.tmp)
        self.bindir = self.env.path("bin")
        os.mkdir(self.bindir, 0o755)
        # Set-ID copies of sanitized binaries are not dumpable: LSan
        # cannot run in them (make sanitize). For this class only.
        saved = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(saved)))
        os.environ.update(no_leak_check_env())

    def setid_copy(self, src, mode):
        """A root:root copy of src with the given (set-ID) mode."""
        dst = os.path.join(self.bindir, os.path.basename(src))
        shutil.copyfile(src, dst)
        os.chown(dst, 0, 0)
        os.chmod(dst, mode)  # after chown, which clears the set-ID bits
        return dst

    def daemon(self, start=True):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup"})
        return d.start() if start else d

    def softnet(self, binary, sock, *args, user=NOBODY):
        """Starts softnet the way Tart does: the VM's end on stdin, fd 0."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(b.close)
        p = self.env.popen(user + [binary, "--vm-fd", "0", "--vm-mac-address",
                                   MAC] + list(args), stdin=a,
                           env=dict(os.environ, SOFTNET_SOCKET=sock),
                           text=True)
        a.close()
        return p

    def test_setid_softnetctl_refuses_to_run(self):
        d = self.daemon()
        for mode in (0o4755, 0o2755, 0o6755):
            ctl = self.setid_copy(SOFTNETCTL, mode)
            # The daemon answers nobody (socket_group nogroup), so only
            # the refusal can stop these.
            for args in (["--version"], ["-s", d.sock, "list"],
                         ["-s", d.sock, "exec", "--", "id", "-u"]):
                r = run(NOBODY + [ctl] + args, check=False)
                self.assertEqual(r.returncode, 1, (oct(mode), args))
                self.assertEqual(r.stdout, "", (oct(mode), args))
                self.assertEqual(without_sanitizer_lines(r.stderr),
                                 "softnetctl: refusing to run set-user-ID "
                                 "or set-group-ID; install it mode 0755")
        self.assertEqual(d.ctl_json("list"), [])
        # The same file without the bits is the ordinary tool again.
        os.chmod(ctl, 0o755)
        r = run(NOBODY + [ctl, "-s", d.sock, "exec", "--", "id", "-u"],
                check=False)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "65534"),
                         r.stderr)

    def test_setuid_softnet_runs_as_the_caller(self):
        d = self.daemon()
        sn = self.setid_copy(SOFTNET, 0o6755)
        self.assertEqual(run(NOBODY + [sn, "--sudo-escalation-probing"],
                             check=False).returncode, 0)
        p = self.softnet(sn, d.sock)
        wait_for(lambda: len(d.ctl_json("list")) == 1,
                 what="the set-user-ID softnet to attach")
        vm = d.ctl_json("list")[0]
        self.assertEqual((vm["mac"], vm["owner"]), (MAC, 65534))
        # The process behind setpriv is softnet itself (setpriv execs).
        uids, gids, groups = status_ids(p.pid)
        self.assertEqual(uids, ["65534"] * 4)  # real, effective, saved, fs
        self.assertEqual(gids, ["65534"] * 4)
        self.assertEqual(groups, [])  # the caller's (none), not root's
        # Its caller can stop it, as Tart interrupts it.
        run(NOBODY + ["kill", "-INT", str(p.pid)])
        self.assertEqual(p.wait(timeout=10), 0, p.stderr.read())
        wait_for(lambda: d.ctl_json("list") == [],
                 what="the VM to be detached")
        # Run by root, it stays root: nothing to drop.
        p = self.softnet(sn, d.sock, user=[])
        wait_for(lambda: len(d.ctl_json("list")) == 1,
                 what="root's softnet to attach")
        self.assertEqual(d.ctl_json("list")[0]["owner"], 0)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_waits_for_a_daemon_that_starts_late(self):
        d = self.daemon(start=False)
        p = self.softnet(self.setid_copy(SOFTNET, 0o4755), d.sock)
        time.sleep(2)
        self.assertIsNone(p.poll(), p.stderr.read() if p.poll() else "")
        d.start()
        # The backoff is capped at 1 s (tests/test_client.c
        # test_backoff_schedule); 10 s is a bound for a hung test.
        wait_for(lambda: len(d.ctl_json("list")) == 1, timeout=10,
                 step=0.02, what="softnet to attach to the late daemon")
        self.assertEqual(d.ctl_json("list")[0]["owner"], 65534)
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)
        self.assertEqual(p.stderr.read(), "")  # waiting is silent

    def test_wait_is_bounded(self):
        sock = self.env.path("absent.sock")
        start = time.monotonic()
        p = self.softnet(SOFTNET, sock, "--wait", "1", user=[])
        self.assertEqual(p.wait(timeout=10), 1)
        # It waited its second (a lower bound: load cannot shorten it),
        # and gave up: the upper bound is for a hung test, 10 times.
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 10)
        err = p.stderr.read().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("cannot reach softnetd at " + sock, err[0])
        self.assertIn("gave up after 1 s (--wait)", err[0])
        # A stale socket nobody listens on (a killed daemon's) is waited
        # for the same way.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sock)
        s.close()
        p = self.softnet(SOFTNET, sock, "--wait", "1", user=[])
        self.assertEqual(p.wait(timeout=10), 1)
        self.assertIn("Connection refused", p.stderr.read())
        self.assertEqual(run([SOFTNET, "--vm-fd", "0", "--vm-mac-address",
                              MAC, "--wait", "-1"],
                             check=False).returncode, 2)

    def test_restart_within_wait_keeps_the_vm_longer_one_ends_it(self):
        d = self.daemon()
        p = self.softnet(SOFTNET, d.sock, "--wait", "2", user=NOBODY)
        wait_for(lambda: len(d.ctl_json("list")) == 1, what="attach")
        d.stop(signal.SIGKILL)
        time.sleep(1.2)
        self.assertIsNone(p.poll())
        d.start()
        wait_for(lambda: len(d.ctl_json("list")) == 1, timeout=3,
                 what="softnet to re-attach")
        # From before the stop: softnet may see the connection close
        # before d.stop() has reaped the daemon on a loaded machine.
        start = time.monotonic()
        d.stop()
        self.assertEqual(p.wait(timeout=10), 1)
        self.assertGreaterEqual(time.monotonic() - start, 1.9)
        err = p.stderr.read()
        self.assertIn("re-attached", err)
        self.assertIn("gave up after 2 s (--wait)", err.splitlines()[-1])

    def test_make_install_modes(self):
        dest = self.env.path("root")
        run(["make", "-C", ROOT, "install", "DESTDIR=" + dest,
             "PREFIX=/usr/local", "BUILD=" + BUILD], timeout=300)
        sn = os.stat(dest + "/usr/local/bin/softnet")
        ctl = os.stat(dest + "/usr/local/bin/softnetctl")
        self.assertEqual((sn.st_uid, sn.st_mode & 0o7777), (0, 0o4755))
        self.assertEqual(ctl.st_mode & 0o7777, 0o755)
        self.assertNotEqual(sn.st_ino, ctl.st_ino)  # no longer a hard link
        # Installed, it passes Tart's check and still runs as its caller.
        r = run(NOBODY + [dest + "/usr/local/bin/softnet", "--help"],
                check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--wait SECONDS", r.stdout)


if __name__ == "__main__":
    import unittest
    unittest.main()
