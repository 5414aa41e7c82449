"""The order system behind the endpoints: Northwind's Customers and Orders in DynamoDB, linked to Salesforce."""
