"""`make soak`: Salesforce's delivery behaviour against the local stack, with faults injected."""
