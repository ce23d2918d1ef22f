"""What the images domain registers with the catalog below it, imported at start (`core.bootstrap`): posts hide
and show with their versions, and the catalog's pages and lists get their pictures from here."""

from __future__ import annotations

from modelyard.catalog import demo as catalog_demo
from modelyard.catalog import showcase
from modelyard.catalog.lifecycle import effects
from modelyard.images import demo
from modelyard.images.gallery import ImagesShowcase
from modelyard.images.posts import PostsFollowVersions

effects.on_version_visibility(PostsFollowVersions())
showcase.register(ImagesShowcase())
catalog_demo.on_demo_loaded(demo.add_to_demo, accounts=(demo.GALLERY_USER[0],))
