"""``python -m astgrad.tools``: the same as the ``astgrad`` command."""

import sys

from .cli import main

sys.exit(main())
