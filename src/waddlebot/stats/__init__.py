"""Usage statistics per community: commands per day by command, platform and outcome, active
chatters per day, top commands and module usage, read by the REST API, the CLI and the
portal's overview chart through one function (:func:`usage.community_usage`)."""
