"""tpuctl: a TPU budget and job manager for a study group sharing one Google Cloud project."""

__version__ = "0.1.0"
