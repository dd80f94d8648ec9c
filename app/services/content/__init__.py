"""What people write: posts, comments, ideas and votes, asks, attachments, mentions, read markers, pre-moderation of what is new, and who is told about it (fanout).

Modules: `posts`, `comments`, `ideas`, `asks`, `attachments`, `mentions`, `reads`, `premoderation`, `fanout`. Import them by name (`from app.services.content import …`)."""
