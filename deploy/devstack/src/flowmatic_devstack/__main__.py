"""`python -m flowmatic_devstack` is the `flowmatic` CLI (how `up --detach` starts its background supervisor)."""

import sys

from flowmatic_devstack.cli import main

sys.exit(main())
