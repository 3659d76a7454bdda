"""The shared kernel: settings, storage, cache and queues, contracts, security, observability."""
