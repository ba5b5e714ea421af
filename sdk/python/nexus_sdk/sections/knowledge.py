"""Knowledge repositories, uploads and search (API.md, Knowledge)."""
from .._route import Route, Section
from ..models import Document, Repository, Resource, SearchResult


class SearchAnswer(Resource):
    """What /knowledge/search answers."""

    results: list[SearchResult]


class Knowledge(Section):
    """Repositories, their documents, and search."""

    list = Route("GET", "/knowledge", kind="page", model=Repository)
    create = Route("POST", "/knowledge", model=Repository)
    get = Route("GET", "/knowledge/{id}", model=Repository)
    update = Route("PATCH", "/knowledge/{id}", model=Repository)
    delete = Route("DELETE", "/knowledge/{id}")
    documents = Route("GET", "/knowledge/{repository_id}/documents", kind="page", model=Document)
    upload = Route("POST", "/knowledge/{repository_id}/documents", kind="upload", model=Document,
                   doc="file= a path, bytes or a binary file object (filename=, content_type= optional) -> 202 pending document")
    search = Route("POST", "/knowledge/search", model=SearchAnswer, doc="query, repository_ids?, limit?, mode?")
