"""The API gateway in front of WaddleBot: Kong's configuration generated from the real routes
(:mod:`.kong_config`) and the Kong Admin Broker that keeps Kong's consumers in step with our
API keys (:mod:`.broker`)."""
