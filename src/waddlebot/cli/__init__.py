"""The ``waddlebot`` command line."""
