"""softnetctl exec end to end: what the command it runs inherits.

The descriptors softnetctl opens are close-on-exec on every platform
(softnet_sys_socketpair; fcntl after socket(2) on macOS, which has no
SOCK_CLOEXEC), and SIGPIPE, which softnetctl ignores for its own socket,
is back to the default in the command.
"""

from harness import E2E, SOFTNETCTL, Daemon, run

PROBE = "grep SigIgn /proc/self/status; ls /proc/self/fd"


class ExecTest(E2E):
    def test_command_gets_fd_3_only_and_default_sigpipe(self):
        host = self.env.netns("host")
        d = Daemon(self.env, host).start()
        r = run(["ip", "netns", "exec", host, SOFTNETCTL, "-s", d.sock,
                 "exec", "--", "sh", "-c", PROBE], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.split()
        ignored = int(lines[lines.index("SigIgn:") + 1], 16)
        self.assertEqual(ignored & (1 << (13 - 1)), 0, "SIGPIPE ignored")
        # ls's own directory descriptor is the one past 3.
        fds = sorted(int(x) for x in lines[lines.index("SigIgn:") + 2:])
        self.assertEqual(fds[:4], [0, 1, 2, 3])
        self.assertLessEqual(len(fds), 5, fds)
