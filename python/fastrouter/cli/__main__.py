"""``python -m fastrouter.cli``: the ``fastrouter`` command."""

import sys

from . import main

sys.exit(main())
