"""Developer tooling: the local Kafka broker and the whole-platform launcher used by `make run` and tests."""
