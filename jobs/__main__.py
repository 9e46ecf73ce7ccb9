"""``python -m jobs EXIT_FILE COMMAND...``: the supervisor a process job runs under."""

import sys
from pathlib import Path

from jobs import supervise

sys.exit(supervise(Path(sys.argv[1]), sys.argv[2:]))
