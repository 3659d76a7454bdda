"""Discord collector: signed interactions and a py-cord gateway worker in, REST replies out."""
