"""Shared domain of the Salesforce integration edge: message models, the order system and the AWS adapters."""
