"""`python -m dashboard.history run`: see dashboard/history/process.py."""

import sys

from dashboard.history.process import main

sys.exit(main())
