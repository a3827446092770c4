"""``python -m montalaq`` runs the CLI."""

import sys

from montalaq.cli import main

sys.exit(main())
