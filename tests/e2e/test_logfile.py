"""softnetd -l FILE under log rotation (issue #11, launchd + newsyslog).

newsyslog renames the log and creates a new file; softnetd must notice
within LOG_CHECK_INTERVAL (5 s, daemon/log.h) and write on in the new file,
instead of on in the renamed one as a descriptor inherited from launchd's
StandardErrorPath did. Each test renames the log the way newsyslog does
(rename, optionally create the new file) and looks for a fresh log line
(an attach: "attached vm N NAME") in the new file.

The daemon runs in its own network namespace; every file is under the
test's temporary directory.
"""

import os
import signal
import socket
import time

from harness import E2E, Client, Daemon, wait_for

CHECK_INTERVAL = 5  # LOG_CHECK_INTERVAL in daemon/log.h


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class LogFileTest(E2E):
    def start(self, config=None):
        host = self.env.netns("host")
        d = Daemon(self.env, host, config)
        self.logfile = self.env.path("rotated-by-test.log")
        d.start(extra=("-l", self.logfile))
        self.addCleanup(d.stop, check=False)
        wait_for(lambda: "listening on" in read(self.logfile),
                 what="the startup line in the -l file")
        self.nvm = 0
        return d

    def attach(self, d):
        """Attaches a VM (a datagram pair): one "attached vm" line."""
        self.nvm += 1
        name = "rot%d" % self.nvm
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        c = Client(d.sock)
        self.addCleanup(c.close)
        r = c.call({"op": "attach", "mac": "02:00:00:00:0c:%02x" % self.nvm,
                    "name": name}, fd=a.fileno())
        self.assertTrue(r["ok"], r)
        return name

    def test_rename_then_reopen_within_interval(self):
        d = self.start()
        # The daemon's stderr (the harness's log) got nothing after -l.
        self.assertNotIn("listening on", d.logtext())
        rotated = self.logfile + ".0"
        os.rename(self.logfile, rotated)
        # Nothing but the rename triggers it: the periodic check. The
        # bound is for a hung test, 10 intervals, not a speed test.
        wait_for(lambda: "reopened" in read(self.logfile),
                 timeout=CHECK_INTERVAL * 10, what="softnetd to reopen")
        name = self.attach(d)
        wait_for(lambda: "attached vm 1 " + name in read(self.logfile),
                 what="the attach line in the new file")
        self.assertNotIn(name, read(rotated))
        self.assertIn("reopening the log file", read(rotated))
        self.assertEqual(os.stat(self.logfile).st_mode & 0o777 & ~0o640, 0)
        # A second rotation, this time with the new file made first (as
        # newsyslog does): that file is the one written to.
        os.rename(self.logfile, rotated)
        open(self.logfile, "w").close()
        wait_for(lambda: "reopened" in read(self.logfile),
                 timeout=CHECK_INTERVAL * 10, what="the second reopen")
        name = self.attach(d)
        wait_for(lambda: name in read(self.logfile),
                 what="the second attach line in the new file")
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertIn("stopped", read(self.logfile))

    def test_sighup_reopens_and_does_not_stop(self):
        d = self.start()
        rotated = self.logfile + ".0"
        os.rename(self.logfile, rotated)
        os.killpg(d.proc.pid, signal.SIGHUP)
        # Well inside the timer's interval: the timer alone would make it
        # in time only about one run in four.
        wait_for(lambda: "reopened" in read(self.logfile),
                 what="the reopen on SIGHUP")
        self.assertIsNone(d.proc.poll())
        self.assertTrue(d.answers())
        name = self.attach(d)
        wait_for(lambda: name in read(self.logfile), what="the attach line")

    def test_after_privilege_drop(self):
        # As "nobody" softnetd cannot create a file in the (root-owned)
        # directory: it says so once and keeps writing to the renamed
        # file; once a file nobody may write exists at the path (what
        # newsyslog makes when its line names the user as owner), it
        # moves there.
        d = self.start({"user": "nobody"})
        wait_for(lambda: "running as nobody" in read(self.logfile),
                 what="the privilege drop")
        rotated = self.logfile + ".0"
        os.rename(self.logfile, rotated)
        wait_for(lambda: "cannot reopen" in read(rotated),
                 timeout=CHECK_INTERVAL + 3, what="the reopen warning")
        self.assertFalse(os.path.exists(self.logfile))
        name = self.attach(d)
        wait_for(lambda: name in read(rotated),
                 what="the attach line in the rotated file")
        time.sleep(CHECK_INTERVAL + 1)  # at least one more failed check
        self.assertEqual(read(rotated).count("cannot reopen"), 1)
        fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT, 0o640)
        os.fchown(fd, 65534, 65534)
        os.close(fd)
        wait_for(lambda: "reopened" in read(self.logfile),
                 timeout=CHECK_INTERVAL + 3, what="the reopen as nobody")
        name = self.attach(d)
        wait_for(lambda: name in read(self.logfile),
                 what="the attach line in the new file")

    def test_refused_log_file(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host)
        target = self.env.path("target")
        open(target, "w").close()
        link = self.env.path("link.log")
        os.symlink(target, link)
        d.start(wait=False, extra=("-l", link))
        self.assertEqual(d.proc.wait(timeout=10), 1)
        self.assertIn("log file " + link, d.logtext())
        self.assertEqual(read(target), "")
        d.proc = None
        d.logf.close()
