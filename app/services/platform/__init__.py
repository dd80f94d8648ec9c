"""What every domain stands on: Markdown rendering, background jobs, mail, file storage,
site settings, the audit log and the admin area's reads. (The rules for raw input are below
the services, in app.inputs, since the doors apply them too.)

Modules: `markup`, `jobs`, `mail`, `storage`, `settings`, `audit`, `admin`. Import them by
name (`from app.services.platform import …`)."""
