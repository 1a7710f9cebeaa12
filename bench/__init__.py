"""`make bench`: the dashboard's benchmarks. See docs/performance.md."""
