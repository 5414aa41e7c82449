"""The bulk sync: Bulk API 2.0 query jobs, pages in S3, the runs' ledger and their merges."""


class SyncError(Exception):
    """What fails a bulk sync run."""
