"""``python -m ferkit ...``: the same command line as the ``ferkit`` script."""

import sys

from ferkit.cli import main

sys.exit(main())
