"""``python -m townmap``: the same as the ``townmap`` command."""

import sys

from townmap.cli import main

sys.exit(main())
