"""An example third-party module: dice rolls and coin flips (see README.md)."""
