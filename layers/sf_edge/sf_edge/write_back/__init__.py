"""Remote call-in: what the worker writes back to Salesforce after applying a notification, and its delivery."""
