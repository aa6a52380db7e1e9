"""Runs the compose scenarios against images already built under the files' tags
(compose/test.sh builds them), and ends with one line of figures."""
import sys
import tempfile
import time

import cluster
import standard
from harness import Failed

# The first admin's password for both scenarios (they start with empty volumes).
PASSWORD = "compose-scenario-admin-1"


def main():
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="prism-compose-") as files:
            standard.run(files, PASSWORD)
        with tempfile.TemporaryDirectory(prefix="prism-compose-") as files:
            figures = cluster.run(files, PASSWORD)
    except Failed as e:
        print(f"compose scenarios FAILED: {e}", flush=True)
        return 1
    print(f"compose scenarios passed in {time.monotonic() - started:.0f} s: standard ok; cluster {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
