"""The change hub: each change the worker accepts, published once on an EventBridge bus for every downstream
system (a target: its own rule, delivery, retries and dead-letter queue)."""
