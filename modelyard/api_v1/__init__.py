"""Civitai's public REST API v1, so that existing clients work by changing only their base URL: a translation
layer over the catalog's services and its one visibility rule, with no rules of its own.

Mounted by `mount.include_api_v1`; this file imports nothing, so its modules can import one another freely."""
