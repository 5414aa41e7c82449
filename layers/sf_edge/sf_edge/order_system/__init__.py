"""The order system behind the endpoints: Northwind's Customers and Orders in DynamoDB, linked to Salesforce."""


class OrderSystemError(Exception):
    """What the order system refuses or must retry."""
