"""Images and posts: galleries, generation metadata, thumbnails."""
