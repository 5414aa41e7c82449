"""`make bench`: benchmarks of the endpoints, each figure beside a reference measured in the same run."""
