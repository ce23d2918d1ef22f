"""Moderation: reports and cases, review queues, strikes and restrictions, the NSFW classifier and the rating game."""
