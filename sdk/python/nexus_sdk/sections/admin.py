"""Administration (API.md, Administration; role `admin`, key scope `admin`)."""
from .._route import Route, Section


class Admin(Section):
    """Users and roles, provider connections, models, metrics."""

    users = Route("GET", "/admin/users", kind="page")
    assign_role = Route("POST", "/admin/users/{user_id}/roles")
    remove_role = Route("DELETE", "/admin/users/{user_id}/roles/{role_id}")
    roles = Route("GET", "/admin/roles", kind="page")
    providers = Route("GET", "/admin/providers", kind="page")
    create_provider = Route("POST", "/admin/providers")
    get_provider = Route("GET", "/admin/providers/{id}")
    update_provider = Route("PATCH", "/admin/providers/{id}")
    delete_provider = Route("DELETE", "/admin/providers/{id}")
    test_provider = Route("POST", "/admin/providers/{provider_id}/test")
    models = Route("GET", "/admin/models", kind="page")
    create_model = Route("POST", "/admin/models")
    get_model = Route("GET", "/admin/models/{id}")
    update_model = Route("PATCH", "/admin/models/{id}")
    delete_model = Route("DELETE", "/admin/models/{id}")
    metrics = Route("GET", "/metrics")
    forge_statistics = Route("GET", "/admin/forge/statistics")
