"""End-to-end test harness: real softnetd, real kernels in network namespaces.

Every namespace, process and file a test creates is registered here and
removed in teardown, even when the test fails. Namespaces are named
"sn<pid>-<name>" so parallel runs never collide; nothing is created in the
machine's own network namespace and no traffic leaves the namespaces.

Uplink modes: SOFTNET_UPLINK=tap (default) runs the Linux build, whose
uplink is the TAP softnet0 it creates. SOFTNET_UPLINK=vmnet (make
test-vmnet) runs the PLATFORM=fakevmnet build: uplink_vmnet.c over the fake
vmnet.framework (tests/fakes), whose TAP vmnet0 in the host namespace plays
softnet0's part (UPLINK_IF), and guests attach as socket-pair VMs (tapbridge
+ softnetctl attach --fd), the only VM shape a Mac has. Tools (tapbridge,
udpflood) always come from the Linux build, SOFTNET_TOOLS_BUILD.

Topology (Topology.build):

    guest ns (tap eth0) ==fd==> softnetd (host ns) -- softnet0 192.168.105.1/24
                                   host ns -- veth -- ext ns (192.0.0.9,
                                   a global address per the filter)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("SOFTNET_BUILD", os.path.join(ROOT, "build"))
SOFTNETD = os.path.join(BUILD, "softnetd")
SOFTNETCTL = os.path.join(BUILD, "softnetctl")
SOFTNET = os.path.join(BUILD, "softnet")
PYTHON = "/usr/bin/python3"  # Debian's, where scapy is installed
TOOLS_BUILD = os.environ.get("SOFTNET_TOOLS_BUILD", BUILD)
VMNET = os.environ.get("SOFTNET_UPLINK", "tap") == "vmnet"
UPLINK_IF = "vmnet0" if VMNET else "softnet0"  # the host side of the uplink

GATEWAY = "192.168.105.1"
EXT_IP = "192.0.0.9"  # special-purpose but global: the filter lets it out
EXT_LINK_HOST = "10.254.0.1"
EXT_LINK_EXT = "10.254.0.2"
PREFIX = "sn%d-" % os.getpid()


def run(cmd, check=True, timeout=30, **kw):
    """Runs a command, capturing text output."""
    return subprocess.run(cmd, check=check, timeout=timeout,
                          capture_output=True, text=True, **kw)


def no_leak_check_env():
    """The environment with LeakSanitizer off, for a sanitized binary that
    runs set-ID or under strace: LSan cannot stop the threads of a process
    that is traced or not dumpable, and prints a fatal error at exit.
    Everything else of ASan stays on."""
    env = dict(os.environ)
    opts = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o]
    env["ASAN_OPTIONS"] = ":".join(opts + ["detect_leaks=0"])
    return env


def capture(env, ns, iface, path, *bpf):
    """Starts tcpdump on iface in ns writing path, and returns it once it
    captures (the file has its pcap header), however loaded the machine."""
    p = env.popen(["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode",
                   "-w", path] + list(bpf), ns=ns)
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) >= 24,
             timeout=20, what="tcpdump on %s to start" % iface)
    time.sleep(0.2)
    return p


def nsrun(ns, cmd, check=True, timeout=30, **kw):
    """Runs a command inside network namespace ns."""
    return run(["ip", "netns", "exec", ns] + cmd, check=check,
               timeout=timeout, **kw)


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    """Polls pred until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


class Env:
    """Owns everything a test creates and removes it all in close()."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="softnet-e2e-")
        os.chmod(self.tmp, 0o755)
        self.namespaces = []
        self.procs = []
        self.daemons = []

    def netns(self, name):
        ns = PREFIX + name
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        nsrun(ns, ["ip", "link", "set", "lo", "up"])
        return ns

    def popen(self, cmd, ns=None, **kw):
        if ns is not None:
            cmd = ["ip", "netns", "exec", ns] + cmd
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def path(self, name):
        return os.path.join(self.tmp, name)

    def close(self):
        for d in self.daemons:
            d.stop(check=False)
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr, p.stdin):
                if f is not None:
                    f.close()
        for ns in reversed(self.namespaces):
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Daemon:
    """A softnetd started in namespace ns with a private socket and DB."""

    def __init__(self, env, ns, config=None, name="softnetd", fake_env=None):
        self.env = env
        self.ns = ns
        self.sock = env.path(name + ".sock")
        self.db = env.path(name + ".db")
        self.conf = env.path(name + ".json")
        self.log = env.path(name + ".log")
        # No DNS forwarder unless a test asks: a daemon under test must
        # never send queries to the machine's own resolvers.
        cfg = {"socket": self.sock, "database": self.db,
               "dns": {"forward": False}}
        cfg.update(config or {})
        # FAKE_VMNET_* / FAKE_XNU_* knobs (tests/fakes/README.md).
        self.fake_env = dict(fake_env or {})
        if VMNET:
            up = dict(cfg.get("uplink") or {})
            up["type"] = "vmnet"
            up.pop("name", None)
            # A pinned subnet: start/end/mask given to vmnet explicitly.
            for k, v in (("gateway", GATEWAY), ("netmask", "255.255.255.0"),
                         ("pool_start", "192.168.105.2"),
                         ("pool_end", "192.168.105.254")):
                up.setdefault(k, v)
            cfg["uplink"] = up
            self.fake_env.setdefault("FAKE_VMNET_IFNAME", UPLINK_IF)
        with open(self.conf, "w") as f:
            json.dump(cfg, f)
        self.proc = None
        # Run before softnetd, e.g. ["prlimit", "--nofile=64:64"].
        self.prefix = []
        env.daemons.append(self)

    def start(self, wait=True, extra=()):
        self.logf = open(self.log, "a")
        env = None
        if self.fake_env:
            env = dict(os.environ)
            env.update(self.fake_env)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns] + self.prefix +
            [SOFTNETD, "-d", "-f", self.conf] + list(extra),
            stdout=self.logf, stderr=self.logf, start_new_session=True,
            env=env)
        if wait:
            wait_for(self.answers, what="softnetd to listen")
        return self

    def answers(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("softnetd exited %s:\n%s" %
                                 (self.proc.returncode, self.logtext()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, check=True, timeout=10):
        """Signals the daemon and waits; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
            if check:
                raise AssertionError("softnetd ignored signal %d" % sig)
        self.proc = None
        self.logf.close()
        return rc

    def ctl(self, *args, ns=None, check=True, json_out=False, user=None):
        """Runs softnetctl against this daemon; returns CompletedProcess."""
        cmd = [SOFTNETCTL, "-s", self.sock]
        if json_out:
            cmd.append("--json")
        cmd += list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                   "--clear-groups"] + cmd
        if ns is not None:
            cmd = ["ip", "netns", "exec", ns] + cmd
        r = run(cmd, check=False)
        if check and r.returncode != 0:
            raise AssertionError("softnetctl %s failed (%d): %s" %
                                 (" ".join(args), r.returncode, r.stderr))
        return r

    def ctl_json(self, *args, **kw):
        return json.loads(self.ctl(*args, json_out=True, **kw).stdout)


class Client:
    """A raw control-protocol client (JSON lines, SCM_RIGHTS)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A Unix connect with a timeout fails at once (EAGAIN) while the
        # listen backlog is full; a busy daemon drains it, so retry.
        deadline = time.monotonic() + 10
        while True:
            self.s.settimeout(10)
            try:
                self.s.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.buf = b""

    def send_raw(self, data, fds=()):
        if fds:
            socket.send_fds(self.s, [data], list(fds))
        else:
            self.s.sendall(data)

    def recv_line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, req, fd=None):
        self.send_raw(json.dumps(req).encode() + b"\n",
                      [fd] if fd is not None else ())
        return self.recv_line()

    def closed_by_peer(self, timeout=5):
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


class Guest:
    """A guest kernel: a namespace whose eth0 is a TAP the daemon drives."""

    def __init__(self, env, name, mac):
        self.env = env
        self.name = name
        self.mac = mac
        self.ns = env.netns(name)
        nsrun(self.ns, ["ip", "tuntap", "add", "dev", "eth0", "mode", "tap"])
        nsrun(self.ns, ["ip", "link", "set", "eth0", "address", mac])
        nsrun(self.ns, ["ip", "link", "set", "eth0", "up"])
        self.ip = None
        self.lease = {}

    def attach(self, daemon, *opts, check=True):
        if VMNET:
            return self.attach_pair(daemon, *opts, check=check)
        return daemon.ctl("attach", "--tap", "eth0", "--name", self.name,
                          *opts, ns=self.ns, check=check)

    def attach_pair(self, daemon, *opts, check=True):
        """Attaches eth0 as a Mac VM: a datagram pair, tapbridge on one
        end, the other handed over with softnetctl attach --fd."""
        old = getattr(self, "bridge", None)
        if old is not None and old.poll() is None:
            # A TAP takes one reader: the previous stand-in lets go first.
            old.kill()
            old.wait()
        a, bridge = socketpair_vm(self.env, self)
        args = ["attach", "--fd", str(a.fileno()), "--name", self.name]
        if "--mac" not in opts:
            # eth0's MAC now, as attach --tap reads it from the device.
            link = json.loads(self.run(["ip", "-j", "link", "show",
                                        "eth0"]).stdout)
            args += ["--mac", link[0]["address"]]
        cmd = [SOFTNETCTL, "-s", daemon.sock] + args + list(opts)
        try:
            r = run(cmd, check=False, pass_fds=[a.fileno()])
        finally:
            a.close()
        if r.returncode != 0:
            bridge.kill()
            if check:
                raise AssertionError("softnetctl %s failed (%d): %s" %
                                     (" ".join(args), r.returncode, r.stderr))
        self.bridge = bridge
        return r

    def run(self, cmd, check=True, timeout=30):
        return nsrun(self.ns, cmd, check=check, timeout=timeout)

    def dhcp(self, check=True, timeout=20, extra=()):
        """Runs busybox udhcpc once; configures eth0 from the lease."""
        script = self.env.path("udhcpc.sh")
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write(UDHCPC_SCRIPT)
            os.chmod(script, 0o755)
        out = self.env.path("lease-%s.env" % self.name)
        if os.path.exists(out):
            os.unlink(out)
        r = nsrun(self.ns, ["env", "LEASE_OUT=" + out, "busybox", "udhcpc",
                            "-f", "-q", "-n", "-t", "4", "-T", "1", "-A", "1",
                            "-i", "eth0", "-s", script, "-O", "mtu",
                            "-x", "hostname:" + self.name] + list(extra),
                  check=False, timeout=timeout)
        if r.returncode != 0 or not os.path.exists(out):
            if check:
                raise AssertionError("udhcpc in %s failed: %s %s" %
                                     (self.name, r.stdout, r.stderr))
            return None
        with open(out) as f:
            self.lease = dict(l.rstrip("\n").split("=", 1)
                              for l in f if "=" in l)
        self.ip = self.lease.get("ip")
        return self.lease

    def ping(self, ip, count=1, wait=1, check=False):
        r = nsrun(self.ns, ["ping", "-n", "-c", str(count), "-W", str(wait),
                            "-i", "0.2", ip], check=False, timeout=30)
        return r.returncode == 0

    def tcp(self, ip, port, payload="hello", timeout=3):
        """Connects, sends payload, returns the echo (None on failure)."""
        code = ("import socket,sys\n"
                "try:\n"
                " s=socket.create_connection((%r,%d),timeout=%d)\n"
                " s.sendall(%r.encode()); s.shutdown(1)\n"
                " d=b''\n"
                " while True:\n"
                "  c=s.recv(4096)\n"
                "  if not c: break\n"
                "  d+=c\n"
                " sys.stdout.write(d.decode())\n"
                "except Exception as e:\n"
                " sys.exit(1)\n" % (ip, port, timeout, payload))
        r = nsrun(self.ns, [PYTHON, "-c", code], check=False,
                  timeout=timeout + 10)
        return r.stdout if r.returncode == 0 else None

    def scapy(self, code, timeout=60):
        """Runs scapy code in the guest (conf.iface = eth0)."""
        prog = ("import logging\n"
                "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)\n"
                "from scapy.all import *\n"
                "conf.verb = 0\nconf.iface = 'eth0'\n" + code)
        return nsrun(self.ns, [PYTHON, "-c", prog], timeout=timeout)


UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc event script for the e2e tests: configure eth0, record the lease.
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
	[ -n "$router" ] && ip route replace default via "$router" dev "$interface"
	{
		echo "ip=$ip"; echo "mask=$mask"; echo "subnet=$subnet"
		echo "router=$router"; echo "dns=$dns"; echo "mtu=$mtu"
		echo "lease=$lease"; echo "serverid=$serverid"
		echo "hostname=$hostname"
	} > "$LEASE_OUT"
	;;
esac
exit 0
"""

ECHO_SERVER = r"""
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


class Topology:
    """host (softnetd + uplink) <-> ext (the Internet), plus guests."""

    def __init__(self, env, config=None, fake_env=None):
        self.env = env
        self.host = env.netns("host")
        self.ext = env.netns("ext")
        run(["ip", "link", "add", "hx0", "netns", self.host, "type", "veth",
             "peer", "name", "xh0", "netns", self.ext])
        nsrun(self.host, ["ip", "addr", "add", EXT_LINK_HOST + "/24",
                          "dev", "hx0"])
        nsrun(self.host, ["ip", "link", "set", "hx0", "up"])
        nsrun(self.host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        nsrun(self.host, ["ip", "route", "add", EXT_IP + "/32", "via",
                          EXT_LINK_EXT])
        nsrun(self.ext, ["ip", "addr", "add", EXT_LINK_EXT + "/24",
                         "dev", "xh0"])
        nsrun(self.ext, ["ip", "addr", "add", EXT_IP + "/32", "dev", "lo"])
        nsrun(self.ext, ["ip", "link", "set", "xh0", "up"])
        nsrun(self.ext, ["ip", "route", "add", "default", "via",
                         EXT_LINK_HOST])
        self.daemon = Daemon(env, self.host, config,
                             fake_env=fake_env).start()
        self.guests = {}

    def guest(self, name, mac, attach=True, opts=()):
        g = Guest(self.env, name, mac)
        if attach:
            g.attach(self.daemon, *opts)
        self.guests[name] = g
        return g

    def ext_echo(self, port=7):
        """Starts a TCP echo server in ext on port."""
        p = self.env.popen([PYTHON, "-c", ECHO_SERVER, str(port)],
                           ns=self.ext, text=True)
        assert p.stdout.readline().strip() == "ready"
        return p

    def stats(self, vm):
        return self.daemon.ctl_json("stats", vm)["stats"]


class E2E(unittest.TestCase):
    """Base class: self.env is fresh per test and always cleaned up."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("end-to-end tests need root (namespaces, TAP)")
        self.env = Env()
        self.addCleanup(self.env.close)

UDP_SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
with open(sys.argv[2], "a") as f:
    while True:
        d, a = s.recvfrom(65536)
        f.write("%s %s\n" % (a[0], d.decode(errors="replace")))
        f.flush()
"""


def udp_sink(env, ns, port):
    """Starts a UDP listener in ns; returns the file it logs "src data" to."""
    out = env.path("udp-%s-%d.log" % (ns, port))
    open(out, "w").close()
    p = env.popen([PYTHON, "-c", UDP_SINK, str(port), out], ns=ns, text=True)
    assert p.stdout.readline().strip() == "ready"
    return out


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def echo_server(env, ns, port):
    """Starts a TCP echo server in namespace ns."""
    p = env.popen([PYTHON, "-c", ECHO_SERVER, str(port)], ns=ns, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p

TAPBRIDGE = os.path.join(TOOLS_BUILD, "tests", "tools", "tapbridge")
UDPFLOOD = os.path.join(TOOLS_BUILD, "tests", "tools", "udpflood")


def skip_in_vmnet(reason):
    """Skips a test or class over the vmnet uplink, saying why."""
    return unittest.skipIf(VMNET, "vmnet uplink: " + reason)


def start_bridged(env, guest, prefix_cmd, sock_env=None):
    """Runs prefix_cmd + [tapbridge] so guest's eth0 speaks over fd 3.

    prefix_cmd is e.g. [softnetctl, -s, SOCK, exec, --mac, M, --]: the VM
    stand-in (tapbridge) then takes exactly the path a QEMU/Tart VM's
    frames take, a SOCK_DGRAM socket pair.
    """
    return env.popen(prefix_cmd + ["ip", "netns", "exec", guest.ns, TAPBRIDGE,
                                   "eth0"], env=sock_env, text=True)


def socketpair_vm(env, guest):
    """A Tart-shaped VM: a SOCK_DGRAM pair, tapbridge on one end in guest.

    Returns the other end (for softnet --vm-fd) and the bridge process.
    """
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    os.set_inheritable(b.fileno(), True)
    p = env.popen(["ip", "netns", "exec", guest.ns, TAPBRIDGE, "eth0",
                   str(b.fileno())], pass_fds=[b.fileno()])
    b.close()
    return a, p


TCP_EXCHANGE = r"""
import errno, socket, sys
ip, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = bytes((i * 7 + (i >> 11)) & 0xff for i in range(n))
try:
    s = socket.create_connection((ip, port), timeout=timeout)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        c = s.recv(65536)
        if not c:
            break
        got += c
except Exception as e:
    name = type(e).__name__
    if name == "OSError" and e.errno in errno.errorcode:
        name = errno.errorcode[e.errno]  # e.g. ENOTCONN, no subclass
    print(name)
    sys.exit(1)
print("match" if got == data else "mismatch %d/%d" % (len(got), n))
"""


def tcp_exchange(ns, ip, port, size=64, timeout=5):
    """From namespace ns: connects to ip:port, sends size pattern bytes,
    half-closes and reads to EOF. Returns "match" when the echo is exact,
    "mismatch GOT/SENT" otherwise, or the exception's name (for instance
    "ConnectionRefusedError", or the errno name for a plain OSError, such
    as "ENOTCONN") when the exchange failed."""
    r = nsrun(ns, [PYTHON, "-c", TCP_EXCHANGE, ip, str(port), str(size),
                   str(timeout)], check=False, timeout=timeout + 20)
    return r.stdout.strip() or r.stderr.strip()
