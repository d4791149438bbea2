"""A local Cloud TPU v2 REST emulator, for tests, demos and newcomers.

`server.EmulatorServer` serves it; `models.World` holds the simulated nodes, operations and
queued resources and the rules that move them; `responses` and `urls` map HTTP onto it.
Nothing here imports google.*: the real client library and gcloud talk to it over HTTP.
"""
