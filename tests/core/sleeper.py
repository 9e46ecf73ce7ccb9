"""A helper that never reads its socket (``python -m tests.core.sleeper FD``)."""

import time

if __name__ == "__main__":
    time.sleep(60)
