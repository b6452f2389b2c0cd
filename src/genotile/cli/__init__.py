"""The ``genotile`` command line."""
