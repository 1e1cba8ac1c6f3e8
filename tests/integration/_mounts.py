"""
Small filesystems for the integration tests: a tmpfs of a given size (a
disk that fills up) or a read-only one (a data path nsqd cannot write,
even as root, whom permission bits do not stop).

Mounting needs root (or C{CAP_SYS_ADMIN}); where it is refused the test is
skipped, saying why.  Every mount is unmounted when the test ends.
"""

from __future__ import annotations

import os
import subprocess

from twisted.trial.unittest import SkipTest, TestCase


def mountTmpfs(testCase: TestCase, size: str, readOnly: bool = False) -> str:
    """
    Mount a fresh tmpfs of C{size} (C{"2m"}) on a new directory and
    unmount it when C{testCase} ends.

    @return: the mount point.
    @raise SkipTest: this process may not mount.
    """
    path: str = os.path.abspath(testCase.mktemp())
    os.makedirs(path)
    options = f"size={size}" + (",ro" if readOnly else "")
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as e:
        raise SkipTest(f"cannot mount a tmpfs here (no mount command: {e})") from e
    if done.returncode != 0:
        raise SkipTest(
            f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN):"
            f" {done.stderr.strip()}"
        )
    testCase.addCleanup(_unmount, path)
    return path


def _unmount(path: str) -> None:
    # Lazily: a daemon the test could not stop must not leave it mounted.
    subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def unwritableDirectory(testCase: TestCase) -> str:
    """
    A directory this process's children cannot create files in: mode 555
    for an ordinary user; for root, whom modes do not stop, an empty
    read-only tmpfs.

    @raise SkipTest: running as root where mounting is refused.
    """
    if os.geteuid() == 0:
        return mountTmpfs(testCase, "1m", readOnly=True)
    path: str = os.path.abspath(testCase.mktemp())
    os.makedirs(path)
    os.chmod(path, 0o555)
    # So that trial can remove the test's temporary tree.
    testCase.addCleanup(os.chmod, path, 0o755)
    return path
