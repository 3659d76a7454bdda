"""Timers: a community's messages or commands repeated in a channel on an interval, fired
by the durable scheduler, only after enough chat lines and (optionally) while live."""
