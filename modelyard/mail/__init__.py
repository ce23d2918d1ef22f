"""Outgoing e-mail: recorded in the database, sent by a job (SMTP), or logged and shown to admins."""
