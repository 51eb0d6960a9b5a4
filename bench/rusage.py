#!/usr/bin/env python3
"""bench/rusage.py — /usr/bin/time with microseconds: runs CMD, waits for it with wait4(2)
and writes "user_s sys_s maxrss_kB wall_s" (the format of `/usr/bin/time -f '%U %S %M %e'`)
to FILE.

    python3 bench/rusage.py -o FILE -- CMD [ARGS...]

GNU time prints CPU seconds with two decimals (10 ms): a generator at 10 requests/s for
60 s uses a few tens of ms, so that rounding alone would be an error of up to ±30 % of the
figure. wait4's rusage has microsecond resolution (user+sys is the scheduler's exact
runtime; the split between them is sampled by the kernel). CPU is the child's and its
waited-for descendants', as with time. The exit status is the command's (128 + signal
when a signal ended it). CMD is the direct child (fork + exec), so its pid is the one
child of this process; signals sent to CMD reach it directly.
"""

import os
import sys
import time


def main(argv):
    if len(argv) < 4 or argv[0] != "-o" or argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    out, cmd = argv[1], argv[3:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            sys.stderr.write("rusage.py: cannot run %s: %s\n" % (cmd[0], e))
            os._exit(127)
    while True:
        try:
            _, status, ru = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    wall = time.monotonic() - t0
    with open(out, "w") as f:
        if os.WIFSIGNALED(status):
            f.write("Command terminated by signal %d\n" % os.WTERMSIG(status))
        f.write("%.6f %.6f %d %.3f\n" % (ru.ru_utime, ru.ru_stime, ru.ru_maxrss, wall))
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
