"""Sub-commands of the ``pecgym`` CLI, one module each with a ``register(subparsers)``."""
