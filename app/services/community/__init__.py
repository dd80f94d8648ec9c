"""Communities and what shapes them: membership, departments, follows, invitations and the social policy.

Modules: `communities`, `departments`, `follows`, `invitations`, `policy`. Import them by name (`from app.services.community import …`)."""
