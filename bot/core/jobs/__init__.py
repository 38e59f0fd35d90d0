"""Jobs the scheduler runs: signal monitoring, watchlist scans, daily summaries (later: positions)."""
