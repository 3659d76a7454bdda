"""Community roles and role grants, per-community command management: ``/api/communities/v1``
and the rules the ``!role`` / ``!command`` chat commands share with it."""
