"""Exhaustion end to end (issue #13 items 7-10), each attack run as the
unprivileged user (uid nobody, or a remote client of an exposed port) that
would make it:

- descriptors: a flood of connections, each holding four descriptors
  behind half a line, against a daemon whose RLIMIT_NOFILE is 64 neither
  spins nor floods the log, root's `softnetctl status` still answers, and
  the half lines time out;
- exposed ports: a hundred clients of one exposed port cannot lock out the
  control socket (root and the VM's own user both still answer);
- connections: a per-uid share, a reserve only root may use, an idle
  timeout, and softnetctl printing the daemon's "busy" line;
- replies: a client that pipelines requests and never reads holds one
  reply, not megabytes, and is disconnected.
"""

import json
import os
import time

from harness import (E2E, PYTHON, SOFTNETCTL, Daemon, Topology, echo_server,
                     run, skip_in_vmnet, wait_for)

# Runs a Python attacker as user u (group nogroup, the socket's group).


def setpriv(user):
    return ["setpriv", "--reuid=" + user, "--regid=nogroup",
            "--clear-groups"]


# Opens N connections; each sends half a request and holds still, the
# first eight with four descriptors each. Prints "ready" with how many
# connects went through.
FD_FLOOD = r"""
import os, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
held, ok = [], 0
spare = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
        socket.send_fds(s, [b'{"op":"li'], spare if i < 8 else [])
        ok += 1
    except OSError:
        pass
    held.append(s)
print("ready", ok, flush=True)
time.sleep(60)
"""

# Opens N TCP connections to ip:port and holds them.
TCP_FLOOD = r"""
import socket, sys, time
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held, ok = [], 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((ip, port))
        ok += 1
    except OSError:
        pass
    held.append(s)
print("ready", ok, flush=True)
time.sleep(60)
"""

# Connects once, sends nothing and holds still.
CONNECT = r"""
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
"""

# Opens N connections; each says hello (a complete request), reads the
# answer and then holds still.
HOLD = r"""
import json, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'{"op":"hello","version":1}\n')
    r = b""
    while not r.endswith(b"\n"):
        r += s.recv(4096)
    held.append((s, json.loads(r)["ok"]))
print("ready", [ok for _, ok in held], flush=True)
time.sleep(60)
"""

# Opens N connections; on each pipelines 2560 status requests (about 2 MB
# of replies: under the 4 MiB at which the old daemon gave up on a client)
# as far as the daemon takes them without blocking, and never reads.
# Prints how many were sent, then, after T seconds, how many of the
# connections the daemon has closed.
NO_READ = r"""
import socket, sys, time
path, n, t = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
req = b'{"op":"status"}\n' * 256
conns, sent = [], 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    chunks, stalls = 10, 0
    while chunks > 0 and stalls < 5:
        try:
            s.sendall(req)
            sent += len(req)
            chunks -= 1
        except BlockingIOError:
            stalls += 1
            time.sleep(0.02)
    conns.append(s)
print("sent", sent // 16, flush=True)
time.sleep(t)
closed = 0
for s in conns:
    try:
        s.setblocking(True)
        s.settimeout(1)
        s.send(b"\n")
    except OSError:
        closed += 1
print("closed", closed, flush=True)
time.sleep(60)
"""


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ExhaustionTest(E2E):
    def attacker(self, user, code, *args, ns=None):
        """Starts code as user; returns the process once it printed."""
        p = self.env.popen(setpriv(user) + [PYTHON, "-c", code] +
                           [str(a) for a in args], ns=ns, text=True)
        return p, p.stdout.readline().split()

    def status(self, d, user=None):
        """softnetctl status (as user); fails the test if it does not
        answer within 5 s."""
        cmd = [SOFTNETCTL, "-s", d.sock, "--json", "status"]
        if user is not None:
            cmd = setpriv(user) + cmd
        r = run(cmd, check=False, timeout=5)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_descriptor_flood_pauses_and_root_answers(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup",
                                    "client_timeout": 3})
        d.prefix = ["prlimit", "--nofile=64:64"]
        d.start()
        pid = d.proc.pid
        _, out = self.attacker("nobody", FD_FLOOD, d.sock, 200)
        self.assertEqual(out[0], "ready")
        # The attack is in place: the daemon idles instead of spinning
        # on accept, and the log stays quiet.
        time.sleep(0.5)
        cpu0, log0 = cpu_seconds(pid), os.path.getsize(d.log)
        time.sleep(2)
        self.assertLess(cpu_seconds(pid) - cpu0, 0.5)
        self.assertLess(os.path.getsize(d.log) - log0, 16384)
        # Root still gets an answer, from the descriptors kept for it.
        lim = self.status(d)["limits"]
        refused = lim["refused"]
        self.assertGreater(refused["descriptors"] +
                           refused["admin_reserved_connections"], 0, lim)
        self.assertLessEqual(lim["descriptors"]["limit"], 64)
        # Half lines holding descriptors time out (client_timeout 3 s).
        wait_for(lambda: self.status(d)["limits"]["timeouts"] > 0,
                 timeout=10, what="half lines to time out")
        # Whatever the flood left, root answers and the daemon lives.
        self.status(d)
        self.assertIsNone(d.proc.poll())

    def test_exposed_port_flood_cannot_lock_out_control(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        t.daemon.stop()
        t.daemon.prefix = ["prlimit", "--nofile=64:64"]
        t.daemon.start()
        g = t.guest("vm1", "02:00:00:00:13:01", opts=("--expose", "8080:7"))
        echo_server(self.env, g.ns, 7)
        g.dhcp()
        # A hundred clients of the exposed port, from an unprivileged user.
        _, out = self.attacker("nobody", TCP_FLOOD, "127.0.0.1", 8080, 100,
                               ns=t.host)
        self.assertEqual(out[0], "ready")
        # And one control connection: whatever descriptor the proxied
        # connections left, this one takes it.
        _, out = self.attacker("nobody", CONNECT, t.daemon.sock)
        self.assertEqual(out[0], "ready")
        time.sleep(1)
        # The control socket still answers, to root and to other users.
        st = self.status(t.daemon)
        self.status(t.daemon, user="nobody")
        self.assertEqual(len(t.daemon.ctl_json("list")), 1)
        self.assertIsNone(t.daemon.proc.poll())
        # Because the VM's proxied connections stopped at their share.
        prox = st["limits"]["proxied"]
        self.assertLessEqual(prox["connections"], prox["max_per_vm"])
        self.assertGreater(sum(prox["refused"].values()), 0, prox)

    def test_connection_share_reserve_timeout_and_busy_message(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {
            "socket_group": "nogroup", "max_connections": 12,
            "max_connections_per_user": 4, "admin_reserved_connections": 4,
            "client_timeout": 2}).start()
        # nobody holds its share; one more is refused with a clear line.
        _, out = self.attacker("nobody", HOLD, d.sock, 4)
        self.assertEqual(out, ["ready", "[True,", "True,", "True,",
                               "True]"])
        r = d.ctl("list", user="nobody", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("daemon busy", r.stderr)
        self.assertIn("max_connections_per_user", r.stderr)
        self.assertNotIn("Broken pipe", r.stderr)
        # Another user is not held back by nobody's share...
        _, out = self.attacker("daemon", HOLD, d.sock, 4)
        self.assertEqual(out[0], "ready")
        # ...but the last four connections are root's alone.
        r = d.ctl("list", user="bin", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("admin_reserved_connections", r.stderr)
        lim = self.status(d)["limits"]
        self.assertEqual(lim["refused"]["max_connections_per_user"], 1)
        self.assertEqual(lim["refused"]["admin_reserved_connections"], 1)
        # A connection that never completes a request is closed, told why.
        from harness import Client
        c = Client(d.sock)
        c.send_raw(b'{"op":')
        # A bound for a hung test (10 times client_timeout), not a speed
        # test: the daemon's own timer is what closes it.
        c.s.settimeout(20)
        self.assertEqual(c.recv_line()["error"]["code"], "timeout")
        self.assertTrue(c.closed_by_peer())
        c.close()
        self.assertGreaterEqual(self.status(d)["limits"]["timeouts"], 1)

    def test_unread_replies_are_bounded_and_reader_dropped(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"socket_group": "nogroup",
                                    "client_timeout": 3}).start()
        pid = d.proc.pid
        hwm0 = proc_status(pid, "VmHWM")
        p, out = self.attacker("nobody", NO_READ, d.sock, 16, 5)
        self.assertEqual(out[0], "sent")
        self.assertGreater(int(out[1]), 16 * 64)
        # One unread reply per connection, not megabytes (kB).
        self.assertLess(proc_status(pid, "VmHWM") - hwm0, 12288)
        # And the clients that do not read are disconnected.
        self.assertEqual(p.stdout.readline().split(), ["closed", "16"])
        lim = self.status(d)["limits"]
        self.assertEqual(lim["slow_readers"], 16)
        self.assertEqual(lim["reply_bytes"], 0)
