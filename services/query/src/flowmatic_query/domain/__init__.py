"""The query service's pure core: documents rendered from events, paging and filter rules. No I/O."""
