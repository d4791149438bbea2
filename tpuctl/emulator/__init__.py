"""A local Cloud TPU REST emulator (v2 and v2alpha1), for tests, demos and newcomers.

`server.EmulatorServer` serves it; `models.World` holds the simulated nodes, operations and
queued resources and the rules that move them; `responses` and `urls` map HTTP onto it.
Nothing here imports google.*: the real client library and gcloud talk to it over HTTP.
"""
