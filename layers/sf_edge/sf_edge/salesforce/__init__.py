"""Salesforce concepts shared by every endpoint: record ids and Outbound Message models."""


class SalesforceCallError(Exception):
    """What a call to Salesforce was refused, or answered that cannot be used."""
