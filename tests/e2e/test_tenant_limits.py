"""Tenant limits end to end (issue #13 leftovers), each attack run as the
unprivileged user that would make it:

- descriptors: a user attaching VM after VM on a daemon whose
  RLIMIT_NOFILE is 64 is refused with "busy" before its VMs eat the
  descriptors kept for root and the admin group; root still connects and
  attaches, and status counts the refusals (attach_descriptors);
- replies: unread replies of one user's connections, together past
  max_reply_bytes, make another user's request "busy" (counted), while
  root is still answered;
- softnet: a "busy" refusal at attach is waited out within --wait (the
  VM lives), a longer one gives up with one line, and any other refusal
  stays final at once.
"""

import json
import os
import signal
import socket
import time

from harness import (E2E, PYTHON, SOFTNET, SOFTNETCTL, Client, Daemon, run,
                     wait_for)



def setpriv(user):
    """Runs as user, group nogroup (the socket's), no other groups."""
    return ["setpriv", "--reuid=" + user, "--regid=nogroup",
            "--clear-groups"]


NOBODY = setpriv("nobody")

# Attaches up to N socket-pair VMs (not sessions) on one connection, until
# the first refusal; prints the codes, "ok" for each VM attached.
ATTACH_MANY = r"""
import json, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rb")
keep, codes = [], []
for i in range(n):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    req = {"op": "attach", "mac": "02:00:00:00:1d:%02x" % i}
    try:
        socket.send_fds(s, [json.dumps(req).encode() + b"\n"], [b.fileno()])
        r = json.loads(f.readline())
    except (OSError, ValueError) as e:
        codes.append(type(e).__name__)
        break
    b.close()
    keep.append(a)
    if not r["ok"]:
        codes.append(r["error"]["code"] + ":" + r["error"]["message"])
        break
    codes.append("ok")
print(json.dumps(codes), flush=True)
time.sleep(60)
"""

# Opens N connections; on each pipelines status requests as far as the
# daemon takes them without blocking, and never reads. Prints "sent".
NO_READ = r"""
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
req = b'{"op":"status"}\n' * 256
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    chunks, stalls = 20, 0
    while chunks > 0 and stalls < 5:
        try:
            s.sendall(req)
            chunks -= 1
        except BlockingIOError:
            stalls += 1
            time.sleep(0.02)
    conns.append(s)
print("sent", flush=True)
time.sleep(60)
"""

# Connects once, says hello, and holds the connection.
HOLD = r"""
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"op":"hello","version":1}\n')
r = b""
while not r.endswith(b"\n"):
    r += s.recv(4096)
print("ready", flush=True)
time.sleep(60)
"""


class TenantLimitsTest(E2E):
    def attacker(self, user, code, *args):
        """Starts code as user; returns the process and its first line."""
        p = self.env.popen(setpriv(user) + [PYTHON, "-c", code] + [str(a) for a in args],
                           text=True)
        return p, p.stdout.readline().strip()

    def limits(self, d, user=None):
        """status "limits" (as user); fails unless it answers within 5 s."""
        cmd = [SOFTNETCTL, "-s", d.sock, "--json", "status"]
        if user is not None:
            cmd = setpriv(user) + cmd
        r = run(cmd, check=False, timeout=5)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["limits"]

    def test_attach_stops_at_descriptor_budget(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup"})
        d.prefix = ["prlimit", "--nofile=64:64"]
        d.start()
        _, out = self.attacker("nobody", ATTACH_MANY, d.sock, 60)
        codes = json.loads(out)
        # Some VMs went in, then a clear refusal: busy, naming the limit
        # (not a dropped connection from a daemon out of descriptors).
        self.assertGreater(codes.count("ok"), 0, codes)
        self.assertEqual(codes[:-1], ["ok"] * (len(codes) - 1), codes)
        self.assertTrue(codes[-1].startswith("busy:"), codes)
        self.assertIn("descriptor limit", codes[-1])
        # Root still gets in, and may still attach (the reserve is its).
        lim = self.limits(d)
        self.assertEqual(lim["refused"]["attach_descriptors"], 1, lim)
        # nobody stopped at the reserve: what is free, with what root's
        # status connection holds (1 + 4 descriptors in flight), is it.
        self.assertGreaterEqual(lim["descriptors"]["free"] + 5,
                                lim["descriptors"]["admin_reserve"], lim)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(a.close)
        c = Client(d.sock)
        self.addCleanup(c.close)
        r = c.call({"op": "attach", "mac": "02:00:00:00:1e:01"},
                   fd=b.fileno())
        b.close()
        self.assertTrue(r["ok"], r)
        # (On the same connection: the reserve is nearly spent now.)
        r = c.call({"op": "list"})
        self.assertEqual(len(r["vms"]), codes.count("ok") + 1, r)
        self.assertIsNone(d.proc.poll())

    def test_unread_replies_total_cap(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup",
                                    "max_reply_bytes": 65536,
                                    "client_timeout": 20}).start()
        # nobody's connections each leave a reply unread behind a full
        # socket buffer: together more than max_reply_bytes.
        _, out = self.attacker("nobody", NO_READ, d.sock, 80)
        self.assertEqual(out, "sent")
        wait_for(lambda: self.limits(d)["reply_bytes"] >= 65536,
                 timeout=10, what="unread replies past the cap")
        # Another user is told to try again, not served from nowhere...
        r = d.ctl("list", user="daemon", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("daemon busy", r.stderr)
        self.assertIn("max_reply_bytes", r.stderr)
        # ...while root is answered, and the refusals are counted.
        lim = self.limits(d)
        self.assertGreaterEqual(lim["refused"]["max_reply_bytes"], 1, lim)
        self.assertGreaterEqual(lim["reply_bytes"], 65536, lim)

    def softnet(self, d, mac, *args):
        """softnet as nobody, the way Tart runs it (VM end on stdin)."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(b.close)
        p = self.env.popen(NOBODY + [SOFTNET, "--vm-fd", "0",
                                     "--vm-mac-address", mac] + list(args),
                           stdin=a, env=dict(os.environ,
                                             SOFTNET_SOCKET=d.sock),
                           text=True)
        a.close()
        return p

    def test_softnet_waits_out_busy_other_refusals_final(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup",
                                    "max_connections_per_user": 1}).start()
        # nobody's one connection is taken: softnet's is refused "busy".
        hold, out = self.attacker("nobody", HOLD, d.sock)
        self.assertEqual(out, "ready")
        p = self.softnet(d, "02:00:00:00:1f:01", "--wait", "10")
        time.sleep(1.5)
        self.assertIsNone(p.poll(), p.stderr.read() if p.poll() else "")
        self.assertEqual(d.ctl_json("list"), [])
        # The load passes: softnet attaches within its wait.
        hold.kill()
        hold.wait()
        wait_for(lambda: len(d.ctl_json("list")) == 1, timeout=5,
                 what="softnet to attach once the daemon has room")
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)
        self.assertEqual(p.stderr.read(), "")  # waiting is silent
        # A busy daemon for longer than --wait: one line, exit 1.
        hold, out = self.attacker("nobody", HOLD, d.sock)
        self.assertEqual(out, "ready")
        start = time.monotonic()
        p = self.softnet(d, "02:00:00:00:1f:02", "--wait", "1")
        self.assertEqual(p.wait(timeout=10), 1)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        err = p.stderr.read().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("daemon busy", err[0])
        self.assertIn("gave up after 1 s (--wait)", err[0])
        hold.kill()
        hold.wait()
        # Any other refusal is the caller's input: final at once, not
        # retried for the 300 s it may wait (p.wait fails long before).
        p = self.softnet(d, "03:00:00:00:1f:03", "--wait", "300")
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertIn("bad_mac", p.stderr.read())
