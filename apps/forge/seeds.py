"""Reference data of Forge: the template catalogue (`manage.py seed` and a data migration call `seed_rows`)."""
from __future__ import annotations

from typing import Any

DEFAULT_TEMPLATES: dict[str, dict[str, Any]] = {
    "dashboard": {
        "name": "Analytics dashboard", "category": "Business", "position": 0,
        "description": "KPI cards, a chart drawn on a canvas, and a sortable table of recent records.",
        "example_prompt": "Build an analytics dashboard with four KPI cards, a line chart of the last 30 days drawn on a canvas, "
                          "and a sortable, filterable table of recent orders, using generated sample data.",
        "features": ["KPI cards", "Line chart", "Sortable table", "Filters"], "config": {"stack": "static", "styling": "modern"},
    },
    "landing-page": {
        "name": "Landing page", "category": "Marketing", "position": 1,
        "description": "A product landing page: hero, features, pricing, testimonials, a sign-up form.",
        "example_prompt": "Create a landing page for a product: a hero with a call to action, a three-column feature section, "
                          "a pricing table with three plans, testimonials, an FAQ accordion and a sign-up form with validation.",
        "features": ["Hero", "Features", "Pricing", "FAQ", "Sign-up form"], "config": {"stack": "static", "styling": "playful"},
    },
    "crud-app": {
        "name": "CRUD app", "category": "Productivity", "position": 2,
        "description": "Create, list, edit and delete records with a form and a searchable list.",
        "example_prompt": "Build a small inventory manager: add, edit and delete items (name, quantity, price, category) with a form "
                          "and validation, a searchable list, totals, and the data kept in memory for the session.",
        "features": ["Create", "Edit", "Delete", "Search", "Validation"], "config": {"stack": "static", "styling": "plain"},
    },
    "portfolio": {
        "name": "Portfolio", "category": "Personal", "position": 3,
        "description": "A personal portfolio: about, projects gallery with filters, contact section.",
        "example_prompt": "Create a personal portfolio site for a designer: an about section, a filterable gallery of projects "
                          "with a detail view, skills, and a contact section.",
        "features": ["About", "Project gallery", "Filters", "Contact"], "config": {"stack": "static", "styling": "dark"},
    },
    "blog": {
        "name": "Blog", "category": "Content", "position": 4,
        "description": "A blog with a post list, tags, search and a post page.",
        "example_prompt": "Build a blog front end with a list of posts (title, date, excerpt, tags), tag filters, search, and a post "
                          "view rendered from sample posts stored in a JavaScript file.",
        "features": ["Post list", "Tags", "Search", "Post view"], "config": {"stack": "static", "styling": "modern"},
    },
}


def seed_rows(template_model: Any) -> int:
    """Create the missing templates; never overwrite an admin's edits. Works in migrations too."""
    created = 0
    for slug, values in DEFAULT_TEMPLATES.items():
        _row, was_created = template_model.objects.get_or_create(id=slug, defaults=values)
        created += int(was_created)
    return created


def seed() -> dict[str, int]:
    """Idempotent: the template catalogue."""
    from .models import Template

    return {"templates_created": seed_rows(Template)}
