"""Twitch collector: EventSub webhooks in, Helix chat and whispers out."""
