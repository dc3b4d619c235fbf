"""A VM's datagram socket stays the VM's: a holder of the attached socket
pair end that re-connect()s its copy to a third socket cannot make softnetd
send there (with softnetd's credentials, which SO_PASSCRED receivers such
as journald trust). Run as the unprivileged user that would attack.
"""

import json
import os
import select
import subprocess
import time

from harness import (E2E, PYTHON, Guest, Topology, run, socketpair_vm,
                     wait_for)

# The attacker, as nobody: attaches its end of the pair over the control
# socket, then on "go" connects its copy of that end to the third socket.
ATTACKER = r"""
import json, socket, sys
sock, fd, mac, third = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
a = socket.socket(fileno=fd)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sock)
req = {"op": "attach", "mac": mac, "name": "victim"}
socket.send_fds(c, [json.dumps(req).encode() + b"\n"], [fd])
buf = b""
while b"\n" not in buf:
    buf += c.recv(65536)
print(buf.split(b"\n")[0].decode(), flush=True)
sys.stdin.readline()
a.connect(third)
print("connected", flush=True)
sys.stdin.readline()
"""


class ReconnectedPeerTest(E2E):
    def third_socket(self):
        """The third party: a root-owned datagram socket any user may
        write to (as journald's are) that asks for the sender's
        credentials. Returns its path and the helper holding it, which
        prints what arrives, with the credentials."""
        path = self.env.path("third.sock")
        code = (
            "import os, socket, struct, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "s.bind(sys.argv[1])\n"
            "os.chmod(sys.argv[1], 0o666)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    m, anc, fl, a = s.recvmsg(65536, socket.CMSG_SPACE(12))\n"
            "    cr = [struct.unpack('3i', d) for l, t, d in anc]\n"
            "    print('got %d bytes creds %s' % (len(m), cr), flush=True)\n")
        return path, code

    def test_reconnected_copy_reaches_no_third_socket(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        name, code = self.third_socket()
        third = self.env.popen([PYTHON, "-c", code, name], ns=t.host,
                               text=True)
        self.assertEqual(third.stdout.readline().strip(), "ready")

        g = Guest(self.env, "vm1", "02:00:00:00:09:01")
        a, bridge = socketpair_vm(self.env, g)
        attacker = self.env.popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup",
             "--clear-groups", PYTHON, "-c", ATTACKER, t.daemon.sock,
             str(a.fileno()), g.mac, name],
            ns=t.host, pass_fds=[a.fileno()], stdin=subprocess.PIPE,
            text=True)
        a.close()
        reply = json.loads(attacker.stdout.readline())
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["vm"]["owner"], 65534)
        ip = g.dhcp()["ip"]

        attacker.stdin.write("go\n")
        attacker.stdin.flush()
        self.assertEqual(attacker.stdout.readline().strip(), "connected")
        # Traffic for the VM from the host: ARP, then echo requests.
        for _ in range(5):
            run(["ip", "netns", "exec", t.host, "ping", "-n", "-c", "1",
                 "-W", "0.2", ip], check=False)
        time.sleep(0.5)

        leaked = b""
        while select.select([third.stdout], [], [], 0)[0]:
            chunk = os.read(third.stdout.fileno(), 65536)
            if not chunk:
                break
            leaked += chunk
        self.assertEqual(leaked, b"", "softnetd sent to the third socket: " +
                         leaked.decode())
        # The daemon noticed on its first send and let the VM go.
        wait_for(lambda: t.daemon.ctl_json("list") == [], timeout=5,
                 what="the re-connected VM to be detached")
        self.assertIn("re-connected", t.daemon.logtext())

    def test_unconnected_and_named_sockets_refused(self):
        t = Topology(self.env, {"socket_group": "nogroup"})
        code = (
            "import json, socket, sys, os\n"
            "sock = sys.argv[1]\n"
            "third = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "third.bind(b'\\0softnet-e2e-named-%d' % os.getpid())\n"
            "named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "named.connect(third.getsockname())\n"
            "plain = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "for i, s in enumerate((plain, named)):\n"
            "    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "    c.connect(sock)\n"
            "    req = {'op': 'attach', 'mac': '02:00:00:00:09:1%d' % i}\n"
            "    socket.send_fds(c, [json.dumps(req).encode() + b'\\n'],\n"
            "                    [s.fileno()])\n"
            "    buf = b''\n"
            "    while b'\\n' not in buf:\n"
            "        buf += c.recv(65536)\n"
            "    print(buf.split(b'\\n')[0].decode(), flush=True)\n")
        r = run(["ip", "netns", "exec", t.host, "setpriv", "--reuid=nobody",
                 "--regid=nogroup", "--clear-groups", PYTHON, "-c", code,
                 t.daemon.sock])
        replies = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(replies), 2)
        for rep in replies:
            self.assertFalse(rep["ok"], rep)
            self.assertEqual(rep["error"]["code"], "bad_fd", rep)
        self.assertEqual(t.daemon.ctl_json("list"), [])
