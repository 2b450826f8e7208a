"""`python -m flowmatic_query`: run the query service."""

from __future__ import annotations

import asyncio

from flowmatic_query.bootstrap import main
from flowmatic_query.settings import Settings

if __name__ == "__main__":
    asyncio.run(main(Settings()))
