"""The portal: WaddleBot's web administration for communities, served at ``/portal``."""
