"""``python -m relcon`` (also what ``torchrun -m relcon`` runs)."""

import sys

from relcon.cli import main

sys.exit(main())
