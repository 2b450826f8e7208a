"""`python -m flowmatic_query`: run the query service; `python -m flowmatic_query rebuild`: rebuild read models."""

from __future__ import annotations

import asyncio
import logging
import sys

from flowmatic_query.bootstrap import main
from flowmatic_query.entrypoints.rebuild_command import run_rebuild
from flowmatic_query.settings import Settings

if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        sys.exit(asyncio.run(run_rebuild(sys.argv[2:], Settings())))
    asyncio.run(main(Settings()))
