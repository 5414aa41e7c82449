"""Small adapters around the AWS calls the functions make, so tests and the local runtime can swap them."""


class AdapterError(Exception):
    """An AWS adapter's own failure (what it could not do, in its words); AWS's errors pass as they are."""
