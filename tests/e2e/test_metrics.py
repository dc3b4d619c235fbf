"""The Prometheus endpoint (issue #16) with real guests and a real scraper.

softnetd runs in the test's host namespace with metrics.listen on
127.0.0.1 there; every scrape runs inside that namespace (ip netns exec),
so nothing leaves the namespaces the test made. A guest leases an
address over DHCP, passes traffic to the outside and has a ping blocked;
then the scrape is parsed by a strict parser of the text exposition
format 0.0.4 (below) and by `promtool check metrics` when installed, and
its per-VM counters must lie between two `softnetctl stats --json`
readings taken around it. A real Prometheus server, when installed, is
run in the namespace on loopback with a temporary config and data
directory, scrapes softnetd, and its HTTP API must answer a softnet_
series.

Who sees what: root and a user ("nobody", in the socket's group nogroup)
each attach a VM; scraping the Unix-socket listener as each user shows
that user's VM and nothing of the other's, root sees both, a third user
("daemon") neither; a user holding METRICS_HTTP_PER_USER connections gets
503 on the next while root still gets 200. Over TCP, without per_vm no
series carries a vm label; with per_vm both VMs show.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

from harness import (E2E, EXT_IP, GATEWAY, PYTHON, ROOT, SOFTNETCTL, VMNET,
                     Daemon, Topology, nsrun, run, wait_for)

LISTEN = "127.0.0.1:9419"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")

# One request over TCP or a Unix socket inside the namespace; prints the
# raw response (status line, headers, body) in hex.
FETCH = r"""
import socket, sys
where, req = sys.argv[1], sys.argv[2].encode().decode("unicode_escape")
if where.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(where)
else:
    h, p = where.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(req.encode("latin-1"))
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
sys.stdout.write(d.hex())  # hex: the caller's text mode keeps CRLF
"""

GET = "GET /metrics HTTP/1.1\\r\\nHost: softnet\\r\\n\\r\\n"

# Attaches one end of a datagram socket pair with softnetctl as the
# calling user (the VM stays attached after this exits).
ATTACH_PAIR = r"""
import socket, subprocess, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
subprocess.run([sys.argv[1], "-s", sys.argv[2], "attach", "--fd",
                str(a.fileno())] + sys.argv[3:], pass_fds=[a.fileno()],
               check=True)
"""

# Holds argv[2] connections to the Unix socket argv[1], then asks on one
# more and prints that answer's status line; holds them all until stdin
# ends.
HOLD = r"""
import socket, sys
held = []
for i in range(int(sys.argv[2]) + 1):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
try:
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
except OSError:
    pass  # refused at accept: the answer is there already
d = b""
while b"\r\n" not in d:
    c = s.recv(4096)
    if not c:
        break
    d += c
print(d.split(b"\r\n")[0].decode(), flush=True)
sys.stdin.read()
"""

USER = "nobody"   # owns one VM; in the socket's group, not an admin
OTHER = "daemon"  # owns none

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = ("counter", "gauge", "histogram")


def parse_exposition(text):
    """Strict text format 0.0.4: returns {family: {"type", "samples"}},
    samples as {(name, labels tuple): float}; raises on any violation."""
    assert text.endswith("\n"), "no final newline"
    fams, seen, current, closed = {}, set(), None, set()
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            assert re.fullmatch(NAME, name), line
            f = fams.setdefault(name, {"type": None, "help": None,
                                       "samples": {}})
            key = "help" if kind == "HELP" else "type"
            assert f[key] is None, "second %s for %s" % (kind, name)
            assert not f["samples"], "%s after samples: %s" % (kind, line)
            if key == "type":
                assert rest in TYPES, line
            f[key] = rest
            continue
        assert not line.startswith("#") and line, "stray line %r" % line
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = name
        if fam not in fams:
            for sfx in ("_bucket", "_sum", "_count"):
                base = name[:-len(sfx)]
                if name.endswith(sfx) and fams.get(base, {}).get(
                        "type") == "histogram":
                    fam = base
        assert fam in fams and fams[fam]["type"] and fams[fam]["help"], \
            "sample without HELP/TYPE: %r" % line
        if fam != current:
            assert fam not in closed, "%s's samples are split" % fam
            if current:
                closed.add(current)
            current = fam
        pairs = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|'
                                 r'\\.)*)"', labels))
        key = (name, pairs)
        assert key not in seen, "series twice: %r" % line
        seen.add(key)
        fams[fam]["samples"][key] = float(value)
    return fams


def series(fams, family, **labels):
    """The samples named family (a histogram's _count too) whose labels
    include labels: {labels: v}."""
    out = {}
    for f in fams.values():
        for (name, pairs), v in f["samples"].items():
            d = dict(pairs)
            if name == family and all(d.get(k) == str(w)
                                      for k, w in labels.items()):
                out[pairs] = v
    return out


def value(fams, family, **labels):
    s = series(fams, family, **labels)
    assert len(s) == 1, "%s %r: %r" % (family, labels, s)
    return next(iter(s.values()))


class MetricsTest(E2E):
    def fetch(self, ns, where=LISTEN, req=GET, user=None):
        cmd = [PYTHON, "-c", FETCH, where, req]
        if user:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                   "--clear-groups"] + cmd
        r = nsrun(ns, cmd, check=False)
        r.stdout = bytes.fromhex(r.stdout.strip()).decode("utf-8")
        return r

    def scrape(self, ns, where=LISTEN):
        r = self.fetch(ns, where)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200 OK\r\n"), head)
        self.assertIn("Content-Type: text/plain; version=0.0.4", head)
        self.assertIn("Connection: close", head)
        return body

    def promtool(self, text):
        if not PROMTOOL:
            return
        r = run([PROMTOOL, "check", "metrics"], check=False, input=text)
        # promtool lints names too (exit 3 for lint-only findings).
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def topology(self, extra=None, per_vm=True):
        cfg = {"metrics": {"listen": LISTEN, "per_vm": per_vm}}
        cfg.update(extra or {})
        return Topology(self.env, cfg)

    def attach_two(self, daemon):
        """A VM of root's ("rootvm") and one of USER's ("uservm")."""
        for user, name, mac in ((None, "rootvm", "02:00:00:00:16:11"),
                                (USER, "uservm", "02:00:00:00:16:12")):
            cmd = [PYTHON, "-c", ATTACH_PAIR, SOFTNETCTL, daemon.sock,
                   "--name", name, "--mac", mac]
            if user:
                cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                       "--clear-groups"] + cmd
            run(cmd)

    def scrape_as(self, ns, where, user):
        """The body of a 200 to user (None: root)."""
        r = self.fetch(ns, where, user=user)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200 OK\r\n"), head)
        parse_exposition(body)
        self.promtool(body)
        return body

    def test_scrape_matches_stats(self):
        t = self.topology()
        g = t.guest("mvm1", "02:00:00:00:16:01")
        g.dhcp()
        self.assertTrue(g.ping(GATEWAY, count=2))
        self.assertTrue(g.ping(EXT_IP, count=2))
        # 10.0.0.1 is private: the filter drops the ping (reason policy).
        self.assertFalse(g.ping("10.0.0.1", count=2))
        before = t.stats("mvm1")
        text = self.scrape(t.host)
        after = t.stats("mvm1")
        fams = parse_exposition(text)
        self.promtool(text)
        vm = t.daemon.ctl_json("show", "mvm1")
        ident = dict(vm="mvm1", id=vm["id"], owner=0)
        for d, key in (("tx", "tx"), ("rx", "rx")):
            for fam, what in (("softnet_vm_frames_total", "frames"),
                              ("softnet_vm_bytes_total", "bytes")):
                v = value(fams, fam, direction=d, **ident)
                field = "%s_%s" % (key, what)
                self.assertLessEqual(before[field], v, fam)
                self.assertLessEqual(v, after[field], fam)
        policy = value(fams, "softnet_vm_drops_total", reason="policy",
                       **ident)
        self.assertGreaterEqual(policy, 2)
        self.assertTrue(before["drops"]["policy"] <= policy <=
                        after["drops"]["policy"])
        # Every reason the VM counted appears, and only those.
        drops = {dict(k)["reason"]: v for k, v in series(
            fams, "softnet_vm_drops_total", **ident).items()}
        for r, n in drops.items():
            self.assertGreater(after["drops"][r], 0, r)
        for r, n in before["drops"].items():
            if n > 0:
                self.assertIn(r, drops)
        self.assertEqual(value(fams, "softnet_vm_hung", **ident), 0)
        self.assertEqual(value(fams, "softnet_vms"), 1)
        self.assertEqual(value(fams, "softnet_leases", state="bound"), 1)
        self.assertEqual(value(fams, "softnet_pool_addresses"), 253)
        self.assertGreaterEqual(value(fams, "softnet_dhcp_messages_total",
                                      type="discover", direction="in"), 1)
        self.assertGreaterEqual(value(fams, "softnet_dhcp_messages_total",
                                      type="ack", direction="out"), 1)
        self.assertGreaterEqual(value(fams, "softnet_control_requests_total",
                                      op="attach", result="ok"), 1)
        self.assertEqual(value(fams, "softnet_attach_duration_seconds_count"),
                         1)
        self.assertGreater(value(fams, "softnet_uplink_frames_total",
                                 direction="tx"), 0)
        if not VMNET:  # Linux only (/proc/self): not a macOS build's
            self.assertGreater(value(fams, "softnet_process_open_fds"), 0)
            self.assertGreater(
                value(fams, "softnet_process_resident_memory_bytes"), 0)
        # Detached: the VM's series are gone with it.
        t.daemon.ctl("detach", "mvm1")
        fams = parse_exposition(self.scrape(t.host))
        self.assertEqual(series(fams, "softnet_vm_info", vm="mvm1"), {})
        self.assertEqual(series(fams, "softnet_vm_frames_total", vm="mvm1"),
                         {})
        self.assertEqual(value(fams, "softnet_vms"), 0)

    def test_http_errors(self):
        t = self.topology()
        for req, status in (
                ("POST /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n", "405"),
                ("GET /other HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n", "404"),
                ("GET /metrics HTTP/1.1\\r\\n\\r\\n", "400"),
                ("GET /metrics HTTP/1.0\\n\\n", "400"),
                ("GET /metrics HTTP/1.1\\r\\nX: " + "a" * 5000, "431")):
            r = self.fetch(t.host, req=req)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("HTTP/1.1 %s " % status),
                            (req, r.stdout[:80]))
        # The daemon still serves.
        parse_exposition(self.scrape(t.host))

    def test_unix_socket_per_user(self):
        host = self.env.netns("host")
        path = self.env.path("metrics.sock")
        d = Daemon(self.env, host, {"metrics": {"listen": path},
                                    "socket_group": "nogroup"}).start()
        # Open to every local user: what each sees is filtered by uid.
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o666)
        self.attach_two(d)
        ids = {v["name"]: v["id"] for v in d.ctl_json("list")}
        root = self.scrape_as(host, path, None)
        for name in ("rootvm", "uservm"):
            self.assertIn('vm="%s"' % name, root)
        mine = self.scrape_as(host, path, USER)
        fams = parse_exposition(mine)
        value(fams, "softnet_vm_info", vm="uservm", id=ids["uservm"])
        # Nothing of root's VM: not its name, id or owner.
        self.assertNotIn("rootvm", mine)
        self.assertNotIn('id="%s"' % ids["rootvm"], mine)
        self.assertNotIn('owner="0"', mine)
        # Host-level families are everyone's.
        self.assertEqual(value(fams, "softnet_vms"), 2)
        theirs = self.scrape_as(host, path, OTHER)
        self.assertNotIn("vm=", theirs)
        self.assertNotIn("uservm", theirs)

        # USER holds its share; the next is 503 and root still gets 200.
        holder = self.env.popen(
            ["setpriv", "--reuid=" + USER, "--regid=nogroup",
             "--clear-groups", PYTHON, "-c", HOLD, path, "4"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = holder.stdout.readline()
            self.assertTrue(line.startswith("HTTP/1.1 503 "), line)
            fams = parse_exposition(self.scrape_as(host, path, None))
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
        self.assertEqual(value(fams, "softnet_metrics_refused_total",
                               reason="per_user"), 1)
        self.assertGreaterEqual(value(fams, "softnet_metrics_requests_total",
                                      code="200"), 3)
        d.stop()
        self.assertFalse(os.path.exists(path))

    def test_tcp_per_vm(self):
        # Without per_vm: no VM's name, id or owner, only totals.
        t = self.topology({"socket_group": "nogroup"}, per_vm=False)
        self.attach_two(t.daemon)
        text = self.scrape(t.host)
        fams = parse_exposition(text)
        self.promtool(text)
        for label in ("vm=", "id=", "owner="):
            self.assertNotIn(label, text)
        self.assertEqual(value(fams, "softnet_vms"), 2)
        value(fams, "softnet_vms_frames_total", direction="tx")
        t.daemon.stop()
        # With per_vm: every VM, whoever owns it, to whoever connects.
        d = Daemon(self.env, t.host, {"metrics": {"listen": LISTEN,
                                                  "per_vm": True},
                                      "socket_group": "nogroup"},
                   name="pervm").start()
        self.attach_two(d)
        fams = parse_exposition(self.scrape(t.host))
        value(fams, "softnet_vm_info", vm="rootvm", owner=0)
        self.assertEqual(len(series(fams, "softnet_vm_info", vm="uservm")),
                         1)

    def test_remote_address_needs_allow_remote(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host, {"metrics": {"listen": "0.0.0.0:9419"}})
        d.start(wait=False)
        wait_for(lambda: d.proc.poll() is not None, what="softnetd to exit")
        self.assertNotEqual(d.proc.returncode, 0)
        self.assertIn("allow_remote", d.logtext())
        d.stop(check=False)
        d = Daemon(self.env, host, {"metrics": {"listen": "0.0.0.0:9419",
                                                "allow_remote": True}},
                   name="remote")
        d.start()
        parse_exposition(self.scrape(host, where="127.0.0.1:9419"))

    def test_prometheus_scrapes(self):
        if not PROMETHEUS:
            self.skipTest("prometheus is not installed")
        t = self.topology()
        t.guest("pvm1", "02:00:00:00:16:02")
        conf = self.env.path("prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: softnet\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % LISTEN)
        data = self.env.path("prometheus-data")
        os.mkdir(data)
        self.env.popen([PROMETHEUS, "--config.file=" + conf,
                        "--storage.tsdb.path=" + data,
                        "--web.listen-address=127.0.0.1:9090"],
                       ns=t.host, stdout=open(os.devnull, "w"),
                       stderr=open(self.env.path("prometheus.log"), "w"))
        q = ("GET /api/v1/query?query=softnet_vm_info HTTP/1.1\\r\\n"
             "Host: x\\r\\nConnection: close\\r\\n\\r\\n")

        def answered():
            r = self.fetch(t.host, where="127.0.0.1:9090", req=q)
            if r.returncode != 0 or "\r\n\r\n" not in r.stdout:
                return False
            body = r.stdout.split("\r\n\r\n", 1)[1]
            try:
                res = json.loads(body)["data"]["result"]
            except (ValueError, KeyError):
                return False
            return any(x["metric"].get("vm") == "pvm1" for x in res)
        wait_for(answered, timeout=60, step=1,
                 what="Prometheus to scrape softnetd")

    def test_alert_rules(self):
        if not PROMTOOL:
            self.skipTest("promtool is not installed")
        r = run([PROMTOOL, "check", "rules",
                 os.path.join(ROOT, "contrib", "softnet-alerts.yml")],
                check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(ROOT, "contrib", "grafana-softnet.json")) as f:
            dash = json.load(f)
        exprs = json.dumps(dash)
        for name in re.findall(r"softnet_[a-z_]+", exprs):
            self.assertIn(name.replace("_bucket", ""), KNOWN, name)


KNOWN = {"softnet_vm_info", "softnet_vm_frames_total", "softnet_vm_bytes_total",
         "softnet_vm_drops_total", "softnet_vm_backlog_frames",
         "softnet_vm_hung", "softnet_vms", "softnet_vms_max",
         "softnet_pool_addresses", "softnet_leases",
         "softnet_leases_quarantined", "softnet_dhcp_messages_total",
         "softnet_dhcp_pool_full_total", "softnet_control_requests_total",
         "softnet_attach_duration_seconds", "softnet_uplink_frames_total",
         "softnet_uplink_bytes_total", "softnet_uplink_errors_total",
         "softnet_process_cpu_seconds_total",
         "softnet_process_start_time_seconds",
         "softnet_process_resident_memory_bytes", "softnet_process_open_fds",
         "softnet_build_info", "softnet_vms_frames_total",
         "softnet_vms_bytes_total", "softnet_vms_drops_total",
         "softnet_vms_hung", "softnet_metrics_connections",
         "softnet_metrics_connections_total", "softnet_metrics_refused_total",
         "softnet_metrics_requests_total"}
