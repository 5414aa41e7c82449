"""Salesforce concepts shared by every endpoint: record ids and Outbound Message models."""
