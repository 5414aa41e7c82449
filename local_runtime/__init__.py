"""`make run`: the functions of template.yaml behind a real HTTP server, over an embedded moto, with the worker.

Everything here only wires the shared package and the function handlers together; nothing here is deployed.
"""
