"""Training jobs: the Philly-derived ``trace``, the event-driven ``replay`` of a queue on a node
pool, the file-backed ``cluster`` behind ``tidewise job --cluster sim``, and ``tidewise bench
queue``'s harness (``bench``) (docs/queue.md)."""
