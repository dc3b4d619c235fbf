"""make install, make deps and the service files, without a Mac.

make install lays out the macOS files (INSTALL_OS=Darwin: the LaunchDaemon
plist generated from launchd/*.in, newsyslog, /opt/softnet) or the Linux
ones into a DESTDIR under this test's temporary directory, with a PATH
whose brew, apt-get, npm and sudo fail loudly: compiling and installing
must never reach a package manager (issue #11). A second install must
change nothing, and must keep a service file or configuration the
administrator edited. The workflow linter runs here too when make deps
could install it.
"""

import glob
import json
import os
import plistlib
import re
import stat

from harness import BUILD, E2E, ROOT, SOFTNETD, run

LABEL = "org.softnet.softnetd"
PLIST = "/Library/LaunchDaemons/" + LABEL + ".plist"


class InstallTest(E2E):
    def setUp(self):
        super().setUp()
        # Package managers that fail the test if anything calls them.
        self.trap = self.env.path("trap")
        self.bin = self.env.path("fakebin")
        os.mkdir(self.bin)
        for tool in ("brew", "apt-get", "apt", "npm", "sudo", "dpkg"):
            p = os.path.join(self.bin, tool)
            with open(p, "w") as f:
                f.write("#!/bin/sh\necho \"%s $*\" >>%s\n"
                        "echo \"FAKE %s CALLED\" >&2\nexit 99\n"
                        % (tool, self.trap, tool))
            os.chmod(p, 0o755)
        self.dest = self.env.path("root")

    def make(self, *args, check=True):
        env = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"])
        r = run(["make", "--no-print-directory", "-C", ROOT,
                 "BUILD=" + BUILD, "DESTDIR=" + self.dest] + list(args),
                check=False, timeout=300, env=env)
        self.assertFalse(os.path.exists(self.trap),
                         "a package manager ran: " + r.stderr)
        if check:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def tree(self):
        """Every installed file and its content."""
        out = {}
        for p in glob.glob(self.dest + "/**", recursive=True):
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p[len(self.dest):]] = f.read()
        return out

    def test_macos_layout_plist_and_idempotence(self):
        self.make("all", "INSTALL_OS=Darwin", "SOCKET_GROUP=staff")
        self.make("install", "INSTALL_OS=Darwin", "SOCKET_GROUP=staff")
        with open(self.dest + PLIST, "rb") as f:
            pl = plistlib.load(f)  # well-formed XML plist or it raises
        self.assertEqual(pl["Label"], LABEL)
        self.assertTrue(pl["RunAtLoad"])
        self.assertTrue(pl["KeepAlive"])
        # The paths are the real ones under the root-only prefix.
        # -l: softnetd writes the log itself, so that it can reopen it
        # after newsyslog rotates it (test_logfile.py).
        self.assertEqual(pl["ProgramArguments"],
                         ["/opt/softnet/sbin/softnetd", "-f",
                          "/opt/softnet/etc/softnetd.json",
                          "-l", "/var/log/softnetd.log"])
        for p in pl["ProgramArguments"][0:3:2] + [
                "/opt/softnet/bin/softnet", "/opt/softnet/bin/softnetctl"]:
            self.assertTrue(os.path.exists(self.dest + p), p)
        ctl = pl["Sockets"]["Control"]
        with open(os.path.join(ROOT, "include", "softnet_proto.h")) as f:
            mac_default = re.search(r'#ifdef __APPLE__\s*#define '
                                    r'SOFTNET_DEFAULT_SOCKET "([^"]+)"',
                                    f.read())
        self.assertEqual(ctl["SockPathName"], mac_default.group(1))
        self.assertEqual(ctl["SockPathMode"], 0o660)
        staff = run(["getent", "group", "staff"]).stdout.split(":")[2]
        self.assertEqual(ctl["SockPathGroup"], int(staff))
        self.assertEqual(ctl["SockPathOwner"], 0)
        self.assertEqual(pl["StandardErrorPath"], "/var/log/softnetd.log")
        with open(self.dest + "/etc/newsyslog.d/softnetd.conf") as f:
            rot = [l.split() for l in f if l.strip() and l[0] != "#"]
        self.assertEqual(rot[0][0], "/var/log/softnetd.log")
        self.assertEqual(len(rot[0]), 7)
        # The configuration names the same group and passes softnetd -n.
        conf = self.dest + "/opt/softnet/etc/softnetd.json"
        with open(conf) as f:
            self.assertEqual(json.load(f)["socket_group"], "staff")
        r = run([SOFTNETD, "-n", "-f", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        for p in ("/opt/softnet/sbin/softnetd",
                  "/opt/softnet/etc/softnetd.json", PLIST):
            self.assertFalse(os.stat(self.dest + p).st_mode &
                             (stat.S_IWGRP | stat.S_IWOTH), p)

        # Again: nothing changes, nothing lands beside it.
        before = self.tree()
        self.make("install", "INSTALL_OS=Darwin", "SOCKET_GROUP=staff")
        self.assertEqual(self.tree(), before)

        # An edited plist and configuration stay; the new plist lands as
        # .new with a note, and a clean install after the merge replaces.
        with open(self.dest + PLIST, "ab") as f:
            f.write(b"<!-- edited -->\n")
        with open(conf, "w") as f:
            f.write('{"dhcp": {"lease_time": 600}}\n')
        edited = self.tree()
        r = self.make("install", "INSTALL_OS=Darwin", "SOCKET_GROUP=root")
        self.assertIn("was edited", r.stderr)
        now = self.tree()
        self.assertEqual(now[PLIST], edited[PLIST])
        self.assertEqual(now["/opt/softnet/etc/softnetd.json"],
                         edited["/opt/softnet/etc/softnetd.json"])
        new = plistlib.loads(now[PLIST + ".new"])
        self.assertEqual(new["Sockets"]["Control"]["SockPathGroup"], 0)
        os.replace(self.dest + PLIST + ".new", self.dest + PLIST)
        self.make("install", "INSTALL_OS=Darwin", "SOCKET_GROUP=root")
        self.assertFalse(os.path.exists(self.dest + PLIST + ".new"))

        # uninstall removes what it installed and keeps the config.
        self.make("uninstall", "INSTALL_OS=Darwin")
        left = self.tree()
        self.assertNotIn(PLIST, left)
        self.assertNotIn("/opt/softnet/sbin/softnetd", left)
        self.assertIn("/opt/softnet/etc/softnetd.json", left)

    def test_linux_units_carry_paths_and_group(self):
        self.make("install", "PREFIX=/usr/local", "SOCKET_GROUP=staff")
        unit = self.dest + "/etc/systemd/system/"
        with open(unit + "softnetd.service") as f:
            self.assertIn("ExecStart=/usr/local/sbin/softnetd -f "
                          "/usr/local/etc/softnetd.json", f.read())
        with open(unit + "softnetd.socket") as f:
            self.assertIn("SocketGroup=staff", f.read())
        conf = self.dest + "/usr/local/etc/softnetd.json"
        with open(conf) as f:
            installed = json.load(f)
        self.assertEqual(installed["user"], "softnet")
        self.assertEqual(installed["socket_group"], "staff")
        # "softnet" exists only after a real install: check with nobody.
        installed["user"] = "nobody"
        with open(conf, "w") as f:
            json.dump(installed, f)
        r = run([SOFTNETD, "-n", "-f", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.tree()
        self.make("install", "PREFIX=/usr/local", "SOCKET_GROUP=staff")
        self.assertEqual(self.tree(), before)

    def test_daemon_refuses_unsafe_paths(self):
        # A configuration in a directory any user can write: refused,
        # naming the directory, before anything privileged happens.
        d = self.env.path("open")
        os.mkdir(d)
        os.chmod(d, 0o777)
        conf = os.path.join(d, "softnetd.json")
        with open(conf, "w") as f:
            f.write("{}\n")
        r = run([SOFTNETD, "-n", "-f", conf], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unsafe path " + d, r.stderr)
        os.chmod(d, 0o755)
        r = run([SOFTNETD, "-n", "-f", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_deps_as_root_never_runs_brew(self):
        # deps.sh on a "Mac" as root with something missing: refuses and
        # says to run it without sudo; brew never runs.
        fake = self.env.path("macbin")
        os.mkdir(fake)
        with open(os.path.join(fake, "uname"), "w") as f:
            f.write("#!/bin/sh\necho Darwin\n")
        os.chmod(os.path.join(fake, "uname"), 0o755)
        env = dict(os.environ, PATH=fake + ":" + self.bin + ":" +
                   os.environ["PATH"])
        r = run(["sh", os.path.join(ROOT, "tests", "deps.sh"), "test"],
                check=False, env=env, cwd=ROOT)
        self.assertEqual(r.returncode, 1)
        self.assertIn("without sudo", r.stderr)
        with open(self.trap) as f:
            calls = f.read().split("\n")
        self.assertTrue(all(c == "" or c.startswith("brew list")
                            for c in calls), calls)

    def test_workflows_lint(self):
        r = run(["make", "--no-print-directory", "-C", ROOT,
                 "lint-workflows"], check=False, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        if "skipped" in r.stdout:
            self.skipTest(r.stdout.strip())
