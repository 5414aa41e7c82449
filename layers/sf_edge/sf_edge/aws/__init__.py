"""Small adapters around the AWS calls the functions make, so tests and the local runtime can swap them."""
