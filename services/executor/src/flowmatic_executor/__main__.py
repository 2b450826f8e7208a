"""`python -m flowmatic_executor`: run an executor."""

from __future__ import annotations

import asyncio

from flowmatic_executor.bootstrap import main
from flowmatic_executor.settings import Settings

if __name__ == "__main__":
    asyncio.run(main(Settings()))
