"""Documents (API.md, Knowledge)."""
from .._route import Route, Section
from ..models import Document


class Documents(Section):
    """One document: read, delete, download, reprocess; direct-to-storage uploads."""

    get = Route("GET", "/documents/{id}", model=Document)
    delete = Route("DELETE", "/documents/{id}")
    download = Route("GET", "/documents/{document_id}/download", kind="bytes")
    reprocess = Route("POST", "/documents/{document_id}/reprocess", model=Document)
    upload_url = Route("POST", "/documents/upload-url", doc="file_name, file_type, file_size, repository_id -> presigned POST")
    confirm = Route("POST", "/documents/confirm", model=Document)
