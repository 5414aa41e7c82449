"""Remote call-in: what the worker writes back to Salesforce after applying a notification, and its delivery."""


class WriteBackError(Exception):
    """What a write-back cannot deliver, or a rules file it cannot read."""
