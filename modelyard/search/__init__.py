"""Search and discovery over every searchable domain."""
