"""Where each search index reads its documents: one `Source` per index, registered by name.

The indexer, the reconciler and the rebuild know indexes only through this registry. A later domain plugs its
documents in with one line where it loads (its `hooks.py`), say for articles:

    sources.register(ArticleSource())   # index = "articles": load(), ids(), stamps()

and queues `outbox.queue(session, "articles", [article.id], "update")` in the transactions that change one.
"""

from modelyard.search.sources.base import Source, indexes, register, source
from modelyard.search.sources.images import ImageSource
from modelyard.search.sources.models import ModelSource
from modelyard.search.sources.tags import TagSource
from modelyard.search.sources.users import UserSource

for _builtin in (ModelSource(), ImageSource(), UserSource(), TagSource()):
    register(_builtin)

__all__ = ["Source", "indexes", "register", "source"]
