"""OBS browser sources: token-protected overlay pages fed live over WebSocket.

``tokens`` issues, rotates and revokes the per-community, per-kind URLs; ``hub`` subscribes to
``overlay:<community>`` on pub/sub in every process that holds overlay sockets and fans the
sanitised messages out; ``api`` serves the page, the WebSocket and the REST endpoints;
``service.OverlayService`` ties them together (not imported here, so the CLI starts quickly).
"""
