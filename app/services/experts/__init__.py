"""Experts linked to topics: assignment and routing, and the read-only expert reports.

Modules: `experts`, `expert_reports`. Import them by name (`from app.services.experts import …`)."""
